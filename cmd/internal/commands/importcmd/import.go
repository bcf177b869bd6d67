// Package importcmd is the import command: completed builds from a
// BuildKit daemon's history.
package importcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/cmd/internal/commands/build"
	"github.com/buildstats/buildstats/collect"
	bkcollect "github.com/buildstats/buildstats/collect/buildkit"
	dockercollect "github.com/buildstats/buildstats/collect/docker"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
	bkclient "github.com/moby/buildkit/client"
)

// Options are import's flags.
type Options struct {
	Daemon   cli.DaemonFlags
	Docker   bool
	KeepLogs bool
	Follow   bool
	DB       string
	Project  string
	OTLP     cli.TraceFlags // also send each build imported as a trace
}

// New returns the import command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "import [--addr ADDR] [--follow]",
		Short: "Import completed builds from a BuildKit daemon's history",
		Long: `Import stores the builds a BuildKit daemon remembers, whoever ran them
(buildctl, buildx with a remote or container driver, buildstats build): each
build's recorded progress is replayed from the daemon, so the record has the
same exact times and step graph as a live one. Builds already in the history
are skipped, so importing again adds only new builds. With --follow, import
keeps listening and stores each build as it completes, until interrupted.`,
		Example: `  buildstats import --addr unix:///run/buildkit/buildkitd.sock
  BUILDKIT_HOST=tcp://buildkitd:1234 buildstats import --follow --project api`,
		Args: cli.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Run(cmd.Context(), f, opts)
		},
	}
	cli.AddDBFlag(cmd, &opts.DB)
	fl := cmd.Flags()
	cli.AddDaemonFlags(cmd, &opts.Daemon, "BuildKit daemon address: unix://, tcp://, docker-container://NAME, kube-pod://NAME, ssh:// (default $BUILDKIT_HOST, else the default socket); with --docker the Docker host")
	fl.BoolVar(&opts.KeepLogs, "keep-logs", false, "store each build's whole log (gzip'd, capped; see buildstats logs) and step output; logs can hold secrets")
	fl.BoolVar(&opts.Docker, "docker", false, "import from the Docker Engine's own BuildKit (engines whose BuildKit has the history API)")
	fl.BoolVar(&opts.Follow, "follow", false, "keep importing builds as they complete, until interrupted")
	fl.StringVar(&opts.Project, "project", "", "project name to file the builds under (default: the current directory's git project or name)")
	opts.OTLP.Register(cmd)
	return cmd
}

// Run imports the daemon's builds.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, daemon, err := connect(ctx, f, opts)
	if err != nil {
		return cli.UsageError(err)
	}
	defer c.Close()
	s, err := f.OpenHistory(ctx, opts.DB, backend.Write)
	if err != nil {
		return err
	}
	defer s.Close()
	// Before anything is imported: an unusable endpoint is a usage error.
	traces, err := f.OpenTraces(ctx, opts.OTLP)
	if err != nil {
		return err
	}
	if traces != nil {
		defer traces.Close(context.Background())
	}

	// The daemon does not know which project a build was for.
	project := f.DetectMeta("", store.Meta{Project: opts.Project}).Project
	stored := func(ref string) bool {
		_, err := s.Resolve(ctx, bkcollect.ContentHash(ref), "")
		return err == nil
	}
	// A build another buildstats process claimed (a `build` recording it
	// live) is theirs to store: wait until they let go, then take it only
	// if they did not store it (they died, or ran with --no-store).
	owner := build.ClaimOwner("import")
	claims := map[string]*build.Claim{}
	skip := func(ref string) bool {
		for {
			if stored(ref) {
				return true
			}
			c, ok, err := build.HoldClaim(ctx, s, build.ClaimKey(ref), owner)
			if err != nil {
				return false // storing it will report the database's trouble
			}
			if ok {
				if stored(ref) {
					c.Release()
					return true
				}
				claims[ref] = c
				return false
			}
			select {
			case <-ctx.Done():
				return true
			case <-time.After(claimPoll):
			}
		}
	}
	defer func() {
		for _, c := range claims {
			c.Release()
		}
	}()
	var added, failed int
	err = bkcollect.Import(ctx, c, bkcollect.ImportOptions{Follow: opts.Follow, Skip: skip, KeepLogs: opts.KeepLogs, Builder: daemon}, func(im bkcollect.Imported) error {
		defer func() {
			claims[im.Ref].Release()
			delete(claims, im.Ref)
		}()
		rec := im.Record
		f.Redactor().Build(im.Build)
		meta := store.Meta{
			Project:     project,
			Dockerfile:  rec.GetFrontendAttrs()["filename"],
			ContentHash: bkcollect.ContentHash(im.Ref),
			Source:      "buildkit:" + im.Ref,
			Tags:        im.Build.ImageNames,
			BuildKitRef: im.Ref,
			Facts:       build.RedactFacts(f.Redactor(), im.Facts, im.Build.Inputs),
		}
		if ts := rec.GetCreatedAt(); ts != nil {
			meta.Started, meta.StartedSource = ts.AsTime(), "log"
		}
		if c := im.Build.Inputs; c != nil && c.Commit != nil && meta.Commit == "" {
			meta.Commit = c.Commit.Value
		}
		// Why its cache broke, against the project's build before it.
		var causes []store.BreakCause
		base, err := f.FindBaselineOn(context.WithoutCancel(ctx), s, project, im.Build.Builder, im.Build, meta.Started)
		if err != nil {
			return fmt.Errorf("store build %s: %w", im.Ref, err)
		}
		causes = report.BreakCauses(report.Explain(im.Build, report.Options{Baseline: base}))
		ingestOpts := store.IngestOptions{Causes: causes, KeepLogs: opts.KeepLogs}
		if im.Log != nil {
			ingestOpts.Log = build.KeptLog(f.Redactor(), im.Log)
		}
		id, created, err := s.Ingest(context.WithoutCancel(ctx), im.Build, meta, ingestOpts)
		if err != nil {
			return fmt.Errorf("store build %s: %w", im.Ref, err)
		}
		if created {
			added++
			if im.Build.Status != "succeeded" {
				failed++
			}
			fmt.Fprintf(f.IO.ErrOut, "imported %s: %s, %d steps%s\n", im.Ref, im.Build.Status, len(im.Build.Vertices), describeError(im.Build.Error))
			// A collector that is down does not stop the import: the
			// build is stored, and a later trace BUILD sends it.
			if err := f.SendTraces(context.WithoutCancel(ctx), traces, f.IO.ErrOut,
				[]cli.TraceBuild{{Build: im.Build, Meta: meta, ID: id}}); err != nil {
				f.Warn("build #%d was not sent as a trace: %v", id, err)
			}
		}
		return nil
	})
	fmt.Fprintf(f.IO.Out, "%d new builds imported (%d failed or cancelled)\n", added, failed)
	if err != nil && ctx.Err() == nil {
		if errors.Is(err, collect.ErrDaemonUnavailable) {
			return cli.UsageError(err)
		}
		return cli.HistoryError(err)
	}
	return nil
}

// connect reaches the daemon the flags name: a BuildKit address or buildx
// builder, or the Docker Engine's BuildKit (--docker, or a builder with
// buildx's docker driver).
// It also names the daemon, as the builds' builder.
func connect(ctx context.Context, f *cli.Factory, opts Options) (*bkclient.Client, string, error) {
	e := build.Endpoint(f, opts.Daemon)
	host := opts.Daemon.Addr
	if opts.Docker {
		if opts.Daemon.Builder != "" || e.TLS != (bkcollect.TLSOptions{}) {
			return nil, "", errors.New("--builder and the TLS flags are for BuildKit daemons; with --docker, --addr is the Docker host")
		}
	} else {
		c, r, err := bkcollect.ConnectEndpoint(ctx, e)
		if !errors.Is(err, bkcollect.ErrEngineBuilder) {
			return c, r.Name, err
		}
		host = r.DockerHost
	}
	c, name, err := dockercollect.EngineBuildKit(ctx, host, true)
	return c, name, err
}

// claimPoll is how often import looks again at a build another process
// claimed.
const claimPoll = 200 * time.Millisecond

func describeError(e string) string {
	if e == "" {
		return ""
	}
	if i := strings.IndexByte(e, '\n'); i >= 0 {
		e = e[:i]
	}
	return ": " + cli.Shorten(cli.OneLine(e), 80)
}
