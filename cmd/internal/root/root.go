// Package root assembles buildstats' command tree. Two binaries share it:
// buildstats, which reads logs and the history and starts in a few
// milliseconds, and buildstats-live, which also links the BuildKit and
// Docker clients (gRPC, protobuf, OpenTelemetry) for the commands that
// talk to a daemon. buildstats runs those commands by starting
// buildstats-live, so their package init never slows down the others.
package root

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/cmd/internal/commands/annotate"
	"github.com/buildstats/buildstats/cmd/internal/commands/check"
	"github.com/buildstats/buildstats/cmd/internal/commands/compare"
	"github.com/buildstats/buildstats/cmd/internal/commands/explain"
	historycmd "github.com/buildstats/buildstats/cmd/internal/commands/history"
	"github.com/buildstats/buildstats/cmd/internal/commands/ingest"
	"github.com/buildstats/buildstats/cmd/internal/commands/logs"
	"github.com/buildstats/buildstats/cmd/internal/commands/migrate"
	"github.com/buildstats/buildstats/cmd/internal/commands/prune"
	"github.com/buildstats/buildstats/cmd/internal/commands/reportcmd"
	servecmd "github.com/buildstats/buildstats/cmd/internal/commands/serve"
	"github.com/buildstats/buildstats/cmd/internal/commands/show"
	"github.com/buildstats/buildstats/cmd/internal/commands/stepstats"
	"github.com/buildstats/buildstats/cmd/internal/commands/token"
	"github.com/buildstats/buildstats/cmd/internal/commands/trends"
)

// Constructor makes a command for a Factory.
type Constructor func(*cli.Factory) *cobra.Command

// Local are the commands that need no daemon client, in help order.
var Local = []Constructor{
	// one log
	explain.New,
	reportcmd.New,
	// CI
	annotate.New,
	check.New,
	// history
	ingest.New,
	historycmd.New,
	show.New,
	logs.New,
	compare.New,
	stepstats.NewSlow,
	stepstats.NewMisses,
	trends.New,
	// history upkeep
	migrate.New,
	prune.New,
	// a server for the team
	servecmd.New,
	token.New,
}

// New returns the root command with the given commands.
func New(f *cli.Factory, commands []Constructor) *cobra.Command {
	root := &cobra.Command{
		Use:           "buildstats",
		Short:         "Tell why Docker builds are slow",
		Long:          "buildstats reads Docker and BuildKit build logs and explains where the time went:\nslow steps, cache breaks and what to change.",
		Version:       f.Version,
		SilenceErrors: true, // Execute prints errors in one format
		SilenceUsage:  true, // a usage dump hides the actual error
		Args:          cli.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetVersionTemplate("buildstats {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.UsageError(err) })
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().BoolVar(&f.NoMask, "no-mask", false,
		"show and store secrets (tokens, passwords, keys) as the log has them, for local use; masked with *** by default")
	for _, newCmd := range commands {
		root.AddCommand(newCmd(f))
	}
	return root
}

// Execute runs the command tree with args and returns the process exit
// status. Errors are printed to f.IO.ErrOut as one "buildstats: ..." line.
func Execute(ctx context.Context, f *cli.Factory, commands []Constructor, args []string) int {
	f.Args = args
	if f.RunLive == nil {
		f.RunLive = func(args []string) error { return delegate(f, args) }
	}
	root := New(f, commands)
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	err := root.ExecuteContext(ctx)
	if err != nil && !IsSilent(err) {
		fmt.Fprintf(f.IO.ErrOut, "buildstats: %s\n", cli.OneLine(f.Redactor().String(err.Error())))
	}
	return cli.ExitStatus(err)
}
