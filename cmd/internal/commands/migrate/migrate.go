// Package migrate is the migrate command: copy a build history into
// another, between SQLite and PostgreSQL either way, and verify the copy.
package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are migrate's flags.
type Options struct {
	From   string
	To     string
	Format *cli.Enum
}

// New returns the migrate command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "migrate --to HISTORY [--from HISTORY]",
		Short: "Copy a build history into another (SQLite and PostgreSQL, either way) and verify it",
		Long: `Migrate copies every build of one history that another does not have, with its
metadata and kept logs, oldest first, then verifies that every build of the
source is in the target with the same figures. A history is a SQLite file or
a postgres:// URL; --from defaults to the history other commands use.

Builds are keyed by their content, so running it again copies nothing, and a
copy that was interrupted goes on where it stopped. A build both histories
have with different contents stops the copy before anything is written.
Builds the target has and the source does not are left alone.`,
		Example: `  buildstats migrate --to "postgres://ci:…@db.example.com/buildstats"
  buildstats migrate --from "$BUILDSTATS_DB" --to backup.db`,
		Args: cli.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON)
	fl := cmd.Flags()
	fl.StringVar(&opts.From, "from", "", "the history to copy: "+cli.DBFlagUsage)
	fl.StringVar(&opts.To, "to", "", "the history to copy into (created if missing): a file (SQLite) or a postgres:// URL")
	return cmd
}

// Run copies and verifies.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	if opts.To == "" {
		return cli.UsageError(errors.New("--to is required: the history to copy into"))
	}
	from, err := f.HistoryTarget(opts.From)
	if err != nil {
		return err
	}
	if from == opts.To {
		return cli.UsageError(fmt.Errorf("--from and --to are the same history (%s)", backend.Describe(from)))
	}
	src, err := f.OpenHistory(ctx, from, backend.Read)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := f.OpenHistory(ctx, opts.To, backend.Write)
	if err != nil {
		return err
	}
	defer dst.Close()

	copyOpts := backend.CopyOptions{}
	if f.IO.ErrIsTerminal {
		copyOpts.Progress = func(copied, total int) {
			fmt.Fprintf(f.IO.ErrOut, "\rcopied %s of %s builds", report.FormatCount(copied), report.FormatCount(total))
		}
	}
	res, err := backend.Copy(ctx, src, dst, copyOpts)
	if copyOpts.Progress != nil {
		fmt.Fprint(f.IO.ErrOut, "\r\033[K")
	}
	if err != nil {
		if errors.Is(err, backend.ErrCopyMismatch) {
			return cli.UsageError(err)
		}
		return cli.HistoryError(err)
	}
	return report.RenderCopy(f.IO.Out, opts.Format.Value, &report.CopyReport{SchemaVersion: report.MaintainSchemaVersion,
		From: backend.Describe(from), To: backend.Describe(opts.To), Builds: res.Builds, Vertices: res.Vertices,
		Copied: res.Copied, CopiedVertices: res.CopiedVertices, Present: res.Present, TargetBuilds: res.TargetBuilds,
		Checksum: res.Checksum, Tokens: res.Tokens})
}
