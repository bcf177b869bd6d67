// Package token is the token command: the access tokens of buildstats
// serve.
package token

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	reportserve "github.com/buildstats/buildstats/report/serve"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// New returns the token command and its subcommands.
func New(f *cli.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token create|list|revoke",
		Short: "Manage the tokens that send builds to and read from buildstats serve",
		Long: `Token manages the access tokens of buildstats serve, kept in the history.

A token of ingest scope sends builds of its one project (buildstats ingest
--server URL --token T); a token of read scope reads the pages and the API of
a server that listens beyond loopback. A token is printed once, when it is
created: the history keeps only its SHA-256.`,
		Args: cli.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCreate(f), newList(f), newRevoke(f))
	return cmd
}

// CreateOptions are token create's flags.
type CreateOptions struct {
	DB, Project, Scope, Name, Expires string
}

func newCreate(f *cli.Factory) *cobra.Command {
	var opts CreateOptions
	cmd := &cobra.Command{
		Use:   "create --project NAME [--expires 90d]",
		Short: "Create a token and print it once",
		Example: `  buildstats token create --project shop --expires 90d --name github-actions
  buildstats token create --scope read --name team-browsers`,
		Args: cli.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return Create(cmd.Context(), f, opts) },
	}
	cli.AddDBFlag(cmd, &opts.DB)
	fl := cmd.Flags()
	fl.StringVar(&opts.Project, "project", "", "the project the token sends builds of (ingest scope)")
	fl.StringVar(&opts.Scope, "scope", store.ScopeIngest, "ingest (send builds of --project) or read (read every page)")
	fl.StringVar(&opts.Name, "name", "", "what the token is for, shown by token list")
	fl.StringVar(&opts.Expires, "expires", "", "stop working after this span (90d, 12w, 36h); default never")
	return cmd
}

// Create creates a token and prints it.
func Create(ctx context.Context, f *cli.Factory, opts CreateOptions) error {
	switch opts.Scope {
	case store.ScopeIngest:
		if strings.TrimSpace(opts.Project) == "" {
			return cli.UsageError(errors.New("an ingest token needs --project: it sends builds of that project only"))
		}
	case store.ScopeRead:
		if opts.Project != "" {
			return cli.UsageError(errors.New("a read token reads every project: leave out --project"))
		}
	default:
		return cli.UsageError(fmt.Errorf("--scope %q: want ingest or read", opts.Scope))
	}
	now := f.Clock()
	t := store.Token{Project: opts.Project, Scope: opts.Scope, Name: opts.Name, CreatedAt: now}
	if opts.Expires != "" && opts.Expires != "never" {
		d, err := report.ParseSpan(opts.Expires)
		if err != nil || d <= 0 {
			return cli.UsageError(fmt.Errorf("--expires: %q is not a span like 90d, 12w, 36h", opts.Expires))
		}
		t.ExpiresAt = now.Add(d)
	}
	ts, closeFn, err := open(ctx, f, opts.DB, backend.Write)
	if err != nil {
		return err
	}
	defer closeFn()
	secret, hash, err := reportserve.NewSecret()
	if err != nil {
		return err
	}
	t.Hash = hash
	if t, err = ts.CreateToken(ctx, t); err != nil {
		return cli.HistoryError(err)
	}
	what := "reads every page"
	if t.Scope == store.ScopeIngest {
		what = "sends builds of project " + cli.OneLine(t.Project)
	}
	until := "never expires"
	if !t.ExpiresAt.IsZero() {
		until = "expires " + t.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	fmt.Fprintf(f.IO.ErrOut, "Token #%d %s and %s. It is shown this once: keep it as a CI secret.\n", t.ID, what, until)
	fmt.Fprintln(f.IO.Out, reportserve.Text(t.ID, secret))
	return nil
}

// ListOptions are token list's flags.
type ListOptions struct {
	DB     string
	Format *cli.Enum
}

func newList(f *cli.Factory) *cobra.Command {
	var opts ListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (never their secrets)",
		Args:  cli.UsageArgs(cobra.NoArgs),
		RunE:  func(cmd *cobra.Command, args []string) error { return List(cmd.Context(), f, opts) },
	}
	cli.AddDBFlag(cmd, &opts.DB)
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON)
	return cmd
}

// List lists the tokens.
func List(ctx context.Context, f *cli.Factory, opts ListOptions) error {
	ts, closeFn, err := open(ctx, f, opts.DB, backend.Read)
	if err != nil {
		return err
	}
	defer closeFn()
	tokens, err := ts.Tokens(ctx)
	if err != nil {
		return cli.HistoryError(err)
	}
	return reportserve.RenderTokens(f.IO.Out, opts.Format.Value, reportserve.NewTokenList(tokens, f.Clock()))
}

func newRevoke(f *cli.Factory) *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: it stops working at once",
		Args:  cli.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Revoke(cmd.Context(), f, db, args[0])
		},
	}
	cli.AddDBFlag(cmd, &db)
	return cmd
}

// Revoke revokes the token ref ("7" or "#7").
func Revoke(ctx context.Context, f *cli.Factory, db, ref string) error {
	id, err := strconv.ParseInt(strings.TrimPrefix(ref, "#"), 10, 64)
	if err != nil || id <= 0 {
		return cli.UsageError(fmt.Errorf("%q is not a token id (see buildstats token list)", ref))
	}
	ts, closeFn, err := open(ctx, f, db, backend.Write)
	if err != nil {
		return err
	}
	defer closeFn()
	if err := ts.RevokeToken(ctx, id, f.Clock()); err != nil {
		if errors.Is(err, store.ErrTokenNotFound) {
			return cli.UsageError(fmt.Errorf("no token #%d (see buildstats token list)", id))
		}
		return cli.HistoryError(err)
	}
	fmt.Fprintf(f.IO.Out, "Token #%d revoked.\n", id)
	return nil
}

func open(ctx context.Context, f *cli.Factory, db string, mode backend.Mode) (store.TokenStore, func(), error) {
	s, err := f.OpenHistory(ctx, db, mode)
	if err != nil {
		return nil, nil, err
	}
	ts, ok := s.(store.TokenStore)
	if !ok {
		s.Close()
		return nil, nil, errors.New("the history keeps no tokens")
	}
	return ts, func() { s.Close() }, nil
}
