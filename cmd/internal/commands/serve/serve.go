// Package serve is the serve command: the team's build dashboard and the
// endpoint CI jobs send build logs to.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	reportserve "github.com/buildstats/buildstats/report/serve"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are serve's flags.
type Options struct {
	DB         string
	Addr       string
	ReadToken  string
	PublicRead bool
	MaxBody    string
}

// New returns the serve command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8080]",
		Short: "Serve the history: a dashboard for the team and an endpoint CI jobs send logs to",
		Long: `Serve serves the history over HTTP: pages of the builds (filtered by project,
branch, status and time), each build as report shows it, comparisons, trends,
slow steps and cache misses; a JSON API under /api/v1/ with the --format json
contracts of history, show, compare, trends, slow and misses; POST
/api/v1/builds, which stores a build log a CI job sends (buildstats ingest
--server); /metrics for Prometheus and /healthz.

Sending a build needs a token of its project (buildstats token create). Reads
are open when the server listens on loopback (the default, 127.0.0.1:8080).
Beyond loopback serve refuses to start unless reads are protected, by
--read-token (or $BUILDSTATS_READ_TOKEN) or by tokens of read scope, or
--public-read says anyone who reaches the port may read.

On SIGTERM or Ctrl-C the server stops taking requests and lets the ingests
in flight finish.`,
		Example: `  buildstats serve --db /var/lib/buildstats/history.db
  buildstats token create --scope read --name browsers
  buildstats serve --addr 0.0.0.0:8080 --db postgres://buildstats@db/buildstats`,
		Args: cli.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Run(cmd.Context(), f, opts)
		},
	}
	cli.AddDBFlag(cmd, &opts.DB)
	fl := cmd.Flags()
	fl.StringVar(&opts.Addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	fl.StringVar(&opts.ReadToken, "read-token", "", "a secret that reads pages and the API (default $BUILDSTATS_READ_TOKEN)")
	fl.BoolVar(&opts.PublicRead, "public-read", false, "let anyone who reaches the address read, beyond loopback too")
	fl.StringVar(&opts.MaxBody, "max-body", "256MiB", "largest build log accepted, once decompressed (bytes, or with KiB, MiB, GiB)")
	return cmd
}

// Run serves until interrupted.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	maxBody, err := ParseSize(opts.MaxBody)
	if err != nil {
		return cli.UsageError(fmt.Errorf("--max-body: %w", err))
	}
	if opts.ReadToken == "" {
		opts.ReadToken = f.Env("BUILDSTATS_READ_TOKEN")
	}
	if opts.ReadToken != "" && len(opts.ReadToken) < 16 {
		return cli.UsageError(errors.New("--read-token must be at least 16 characters: it is all that protects the history's pages"))
	}
	if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		return cli.UsageError(fmt.Errorf("--addr %q: want host:port, such as 127.0.0.1:8080", opts.Addr))
	}
	s, err := f.OpenHistory(ctx, opts.DB, backend.Write)
	if err != nil {
		return err
	}
	defer s.Close()
	ts, ok := s.(store.TokenStore)
	if !ok {
		return fmt.Errorf("the history keeps no tokens")
	}
	loopback := reportserve.IsLoopback(opts.Addr)
	readTokens := 0
	if !loopback {
		tokens, err := ts.Tokens(ctx)
		if err != nil {
			return cli.HistoryError(err)
		}
		for _, t := range tokens {
			if t.Scope == store.ScopeRead && t.Usable(f.Clock()) {
				readTokens++
			}
		}
		if opts.ReadToken == "" && readTokens == 0 && !opts.PublicRead {
			return cli.UsageError(fmt.Errorf("--addr %s is reachable beyond this machine and the history's pages would be open to anyone: "+
				"create a token of read scope (buildstats token create --scope read), set --read-token, or say --public-read", opts.Addr))
		}
	}
	readOpen := opts.PublicRead || loopback && opts.ReadToken == ""
	srv, err := reportserve.New(s, reportserve.Config{MaxBody: maxBody, ReadOpen: readOpen, ReadToken: opts.ReadToken,
		Mask: f.Redactor(), Now: f.Clock,
		Log: func(format string, args ...any) {
			fmt.Fprintf(f.IO.ErrOut, "buildstats: %s\n", cli.OneLine(f.Redactor().String(fmt.Sprintf(format, args...))))
		}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return cli.UsageError(fmt.Errorf("listen on %s: %w", opts.Addr, err))
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	target, _ := f.HistoryTarget(opts.DB)
	reads := "open to anyone who reaches it"
	if !readOpen {
		reads = "need a token"
	}
	fmt.Fprintf(f.IO.Out, "Serving %s at http://%s/ (reads %s; logs up to %s)\n", backend.Describe(target), ln.Addr(), reads, reportserve.FormatSize(maxBody))
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	fmt.Fprintln(f.IO.Out, "Stopped.")
	return nil
}

// ParseSize reads a byte count: 1048576, 512KiB, 256MiB, 1GiB (KB, MB,
// GB are the same powers of 1024).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size such as 256MiB", s)
	}
	return n * mult, nil
}
