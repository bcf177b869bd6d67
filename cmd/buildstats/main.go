// Command buildstats tells people why their Docker builds are slow.
//
// The commands that talk to a BuildKit or Docker daemon (build, import,
// layers), and trace and ingest --otlp, which send OpenTelemetry traces,
// run in the companion program buildstats-live, so that this one starts
// without the daemon clients' and the OpenTelemetry SDK's package init.
package main

import (
	"context"
	"os"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/cmd/internal/root"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	os.Exit(Execute(context.Background(), cli.System(root.Version(version)), os.Args[1:]))
}
