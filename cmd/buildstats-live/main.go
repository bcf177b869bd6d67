// Command buildstats-live is buildstats with the commands that talk to a
// BuildKit or Docker daemon (build, import and layers) and trace, which
// links the OpenTelemetry SDK. buildstats runs it for those and for --otlp;
// it also answers every other buildstats command.
package main

import (
	"context"
	"os"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/cmd/internal/commands/build"
	"github.com/buildstats/buildstats/cmd/internal/commands/importcmd"
	"github.com/buildstats/buildstats/cmd/internal/commands/layers"
	"github.com/buildstats/buildstats/cmd/internal/commands/tracecmd"
	"github.com/buildstats/buildstats/cmd/internal/root"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = ""

// commands are every buildstats command, the live ones included.
var commands = append(append([]root.Constructor{}, root.Local...), build.New, importcmd.New, layers.New, tracecmd.New)

// Execute runs buildstats-live with args and returns the process exit
// status.
func Execute(ctx context.Context, f *cli.Factory, args []string) int {
	// --otlp on any command sends through the OpenTelemetry SDK, which
	// only this binary links.
	f.NewTraceSender = tracecmd.NewSender
	return root.Execute(ctx, f, commands, args)
}

func main() {
	os.Exit(Execute(context.Background(), cli.System(root.Version(version)), os.Args[1:]))
}
