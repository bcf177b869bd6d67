// Command buildstats tells people why their Docker builds are slow.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(Execute(context.Background(), SystemApp(), os.Args[1:]))
}
