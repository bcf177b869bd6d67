// Package logs is the logs command: a stored build's whole log, as
// `docker buildx history logs` prints it.
package logs

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report/safe"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are logs' flags and argument.
type Options struct {
	DB          string
	Ref         string
	Project     string
	AllProjects bool
}

// New returns the logs command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "logs [BUILD]",
		Short: "Print a stored build's whole log",
		Long: `Logs prints the whole log of a build from the history as plain progress, the
way docker buildx history logs prints it. A build's log is kept only when it
was stored by build or import with --keep-logs (gzip'd, cut at 16 MiB of
text); for other builds logs says so and exits with status 2. Secrets were
masked when the log was stored, and terminal controls are made inert here.

BUILD is what show takes: an id, "latest" (the default), "previous",
"latest~N", a content hash prefix or a BuildKit ref.`,
		Example: `  buildstats logs
  buildstats logs 42
  buildstats logs qh3b5x9k2m1v`,
		Args: cli.UsageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = "latest"
			if len(args) == 1 {
				opts.Ref = args[0]
			}
			return Run(cmd.Context(), f, opts)
		},
	}
	cli.AddDBFlag(cmd, &opts.DB)
	cli.AddRefScopeFlags(cmd, &opts.Project, &opts.AllProjects)
	return cmd
}

// Run prints the log.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	project, detected, err := f.ProjectScope(opts.Project, opts.AllProjects)
	if err != nil {
		return err
	}
	s, err := f.OpenHistory(ctx, opts.DB, backend.Read)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := cli.ResolveBuild(ctx, s, opts.Ref, project, detected)
	if err != nil {
		return err
	}
	l, err := s.Log(ctx, id)
	if err != nil {
		return cli.HistoryError(err)
	}
	if l == nil {
		return cli.UsageError(fmt.Errorf("build #%d: its log was not kept (build and import keep it with --keep-logs)", id))
	}
	text, err := l.Text()
	if err != nil {
		return cli.HistoryError(fmt.Errorf("build #%d: %w", id, err))
	}
	out := safe.Block(strings.TrimRight(string(text), "\n"))
	if _, err := fmt.Fprintln(f.IO.Out, out); err != nil {
		return err
	}
	if l.Truncated {
		f.Warn("the log of build #%d was cut at %d bytes when it was stored", id, l.Bytes)
	}
	return nil
}
