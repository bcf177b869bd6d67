// Command buildstats tells people why their Docker builds are slow.
package main

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/buildstats/buildstats/cmd/internal/cli"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); a build
// from a module or a checkout reports what the Go toolchain recorded.
var version = ""

func main() {
	os.Exit(Execute(context.Background(), cli.System(buildVersion()), os.Args[1:]))
}

// buildVersion is the version to report: the link-time one, else the
// module version, else the VCS revision the binary was built from.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if len(s.Value) > 12 {
				s.Value = s.Value[:12]
			}
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += "+dirty"
			}
		}
	}
	return v
}
