package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/collect"
	"github.com/buildstats/buildstats/collect/buildenv"
	bkcollect "github.com/buildstats/buildstats/collect/buildkit"
	dockercollect "github.com/buildstats/buildstats/collect/docker"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

type buildOptions struct {
	contextDir string
	addr       string
	docker     bool
	file       string
	target     string
	buildArgs  []string
	platforms  []string
	noCache    bool
	outputs    []string
	tags       []string
	network    string
	progress   string
	format     string
	db         string
	noStore    bool
	project    string
}

func newBuildCommand(app *App) *cobra.Command {
	var opts buildOptions
	cmd := &cobra.Command{
		Use:   "build [flags] CONTEXT",
		Short: "Run a build on BuildKit or Docker, record it live and explain it",
		Long: `Build runs a Dockerfile build on a BuildKit daemon (default) or, with --docker,
on the Docker Engine, shows BuildKit's usual progress on standard error, records
the live status stream (exact step times, the step graph, cache hits, errors,
output), stores the build in the history and prints its explanation.

The BuildKit daemon is --addr, else $BUILDKIT_HOST, else the default socket.
With --docker, --addr is the Docker host, else $DOCKER_HOST. Builds use the
built-in Dockerfile frontend: a "# syntax=" line would need a registry.`,
		Example: `  buildstats build .
  buildstats build --addr unix:///run/buildkit/buildkitd.sock -f app.Dockerfile --target prod .
  buildstats build --docker -t app:dev --build-arg VERSION=2 .`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.contextDir = args[0]
			return runBuild(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.addr, "addr", "", "daemon address (BuildKit: $BUILDKIT_HOST; with --docker: $DOCKER_HOST)")
	f.BoolVar(&opts.docker, "docker", false, "build on the Docker Engine instead of a BuildKit daemon")
	f.StringVarP(&opts.file, "file", "f", "", "Dockerfile (default CONTEXT/Dockerfile)")
	f.StringVar(&opts.target, "target", "", "build stage to stop at")
	f.StringArrayVar(&opts.buildArgs, "build-arg", nil, "build argument KEY=VALUE (KEY alone takes the environment's value)")
	f.StringSliceVar(&opts.platforms, "platform", nil, "target platform(s), os/arch[/variant]")
	f.BoolVar(&opts.noCache, "no-cache", false, "do not use the build cache")
	f.StringArrayVarP(&opts.outputs, "output", "o", nil, "BuildKit output, buildctl syntax: type=image,name=app:dev | type=oci,dest=FILE | type=local,dest=DIR")
	f.StringArrayVarP(&opts.tags, "tag", "t", nil, "image name (--docker: tag; BuildKit: adds type=image,name=TAG)")
	f.StringVar(&opts.network, "network", "", "network for RUN steps (--docker only): default, none, host")
	f.StringVar(&opts.progress, "progress", "auto", "progress display: auto, tty, plain, rawjson, quiet")
	f.StringVar(&opts.format, "format", report.FormatTable, "explanation format: "+strings.Join(report.Formats, ", "))
	f.StringVar(&opts.db, "db", "", dbFlagUsage)
	f.BoolVar(&opts.noStore, "no-store", false, "do not store the build in the history")
	f.StringVar(&opts.project, "project", "", "project name for the history (default from CI or the git remote)")
	return cmd
}

func runBuild(ctx context.Context, app *App, opts buildOptions) error {
	renderer, err := report.NewRenderer(opts.format, report.RenderOptions{Color: app.ColorEnabled()})
	if err != nil {
		return usageError(err)
	}
	args, err := parseBuildArgs(opts.buildArgs, app.Getenv)
	if err != nil {
		return usageError(err)
	}
	if opts.docker && len(opts.outputs) > 0 {
		return usageError(errors.New("--output is for BuildKit builds; with --docker use -t"))
	}
	if opts.docker && len(opts.platforms) > 1 {
		return usageError(errors.New("--docker builds one platform at a time"))
	}
	if !opts.docker && opts.network != "" {
		return usageError(errors.New("--network is for --docker builds"))
	}
	switch opts.progress {
	case "", "auto", "tty", "plain", "rawjson", "quiet":
	default:
		return usageError(fmt.Errorf("unknown --progress %q (want auto, tty, plain, rawjson or quiet)", opts.progress))
	}
	dockerfilePath := opts.file
	if dockerfilePath == "" {
		dockerfilePath = filepath.Join(opts.contextDir, "Dockerfile")
	}
	// The collectors check these too, but their errors would exit 1; a
	// missing context or Dockerfile is the user's to fix (exit 2).
	if fi, err := os.Stat(opts.contextDir); err != nil {
		return usageError(fmt.Errorf("build context: %w", err))
	} else if !fi.IsDir() {
		return usageError(fmt.Errorf("build context %s is not a directory", opts.contextDir))
	}
	if fi, err := os.Stat(dockerfilePath); err != nil {
		return usageError(fmt.Errorf("Dockerfile: %w", err))
	} else if fi.IsDir() {
		return usageError(fmt.Errorf("Dockerfile %s is a directory", dockerfilePath))
	}

	// ^C cancels the build; the daemon stops it and the cancelled build is
	// still recorded.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		b        *model.Build
		buildErr error
		layers   []dockercollect.LayerSize
		ref      string
	)
	if opts.docker {
		platform := ""
		if len(opts.platforms) == 1 {
			platform = opts.platforms[0]
		}
		res, err := dockercollect.Build(ctx, dockercollect.BuildOptions{
			Host: opts.addr, ContextDir: opts.contextDir, Dockerfile: opts.file, Target: opts.target,
			BuildArgs: args, Platform: platform, NoCache: opts.noCache, Tags: opts.tags,
			NetworkMode: opts.network, Progress: opts.progress, ProgressOut: app.IO.ErrOut,
		})
		if res != nil {
			b, layers = res.Build, res.Layers
		}
		buildErr = err
	} else {
		outputs := append([]string(nil), opts.outputs...)
		for _, t := range opts.tags {
			outputs = append(outputs, "type=image,name="+t)
		}
		res, err := bkcollect.Build(ctx, bkcollect.BuildOptions{
			Addr: opts.addr, ContextDir: opts.contextDir, Dockerfile: opts.file, Target: opts.target,
			BuildArgs: args, Platforms: opts.platforms, NoCache: opts.noCache, Outputs: outputs,
			Progress: opts.progress, ProgressOut: app.IO.ErrOut,
		})
		if res != nil {
			b, ref = res.Build, res.Ref
		}
		buildErr = err
	}
	if b == nil {
		// Nothing ran to a conclusion: no record, no report.
		if errors.Is(buildErr, collect.ErrDaemonUnavailable) {
			return usageError(buildErr)
		}
		if buildErr == nil {
			buildErr = errors.New("the build produced no record")
		}
		return buildErr
	}

	if !opts.noStore {
		meta := store.Meta{Project: opts.project, Dockerfile: dockerfilePath, Tags: opts.tags, Source: "live"}
		if ref != "" {
			// The daemon's history ref: a later `buildstats import` of the
			// same daemon recognises this build and skips it.
			meta.ContentHash, meta.Source = bkcollect.ContentHash(ref), "buildkit:"+ref
		}
		if err := storeBuild(ctx, app, opts.db, b, meta, opts.contextDir); err != nil {
			fmt.Fprintf(app.IO.ErrOut, "buildstats: the build was not stored: %v\n", err)
		}
	}

	var df *dockerfile.File
	if parsed, err := dockerfile.ParseFile(dockerfilePath); err == nil {
		df = parsed
	}
	if err := renderer.Render(app.IO.Out, report.Explain(b, report.Options{Dockerfile: df})); err != nil {
		return err
	}
	if len(layers) > 0 && (opts.format == report.FormatTable || opts.format == "") {
		fmt.Fprintln(app.IO.Out)
		writeLayerTable(app.IO.Out, layers)
	}
	if buildErr != nil {
		// The explanation already shows the error; the exit status says the
		// build failed.
		return &statusError{status: exitError, err: buildErr}
	}
	return nil
}

// storeBuild ingests b into the history at db (default: buildenv.DefaultPath),
// filling the project, branch and commit from flags, CI and git.
func storeBuild(ctx context.Context, app *App, db string, b *model.Build, meta store.Meta, dir string) error {
	s, err := openStore(app, db)
	if err != nil {
		return err
	}
	defer s.Close()
	meta = detectMetaIn(app, dir, meta)
	if meta.Started.IsZero() {
		// The stream's first vertex start, else the time of ingest.
		meta.Started, meta.StartedSource = store.StartTime(b, time.Time{}, time.Time{})
		if meta.Started.IsZero() {
			meta.Started, meta.StartedSource = app.Now(), "ingest"
		}
	}
	_, _, err = s.Ingest(context.WithoutCancel(ctx), b, meta, store.IngestOptions{})
	return err
}

func openStore(app *App, db string) (*sqlite.Store, error) {
	path := db
	if path == "" {
		var err error
		if path, err = buildenv.DefaultPath(app.Getenv); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return sqlite.Open(path)
}

// parseBuildArgs turns KEY=VALUE flags into a map; a bare KEY takes its
// value from the environment, as docker build does, and is left out when
// unset.
func parseBuildArgs(list []string, getenv func(string) string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range list {
		k, v, ok := strings.Cut(a, "=")
		if k == "" {
			return nil, fmt.Errorf("--build-arg %q: want KEY=VALUE", a)
		}
		if !ok {
			if getenv == nil {
				continue
			}
			if v = getenv(k); v == "" {
				continue
			}
		}
		out[k] = v
	}
	return out, nil
}

// writeLayerTable prints an image's layers with the step that made each.
func writeLayerTable(w io.Writer, layers []dockercollect.LayerSize) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER SIZE\tSTEP\tCREATED BY")
	var total int64
	for _, l := range layers {
		step := l.Step
		if step == "" {
			step = "-"
		}
		total += l.Layer.Size
		fmt.Fprintf(tw, "%s\t%s\t%s\n", report.FormatBytes(l.Layer.Size), truncate(step, 50), truncate(l.Layer.CreatedBy, 70))
	}
	fmt.Fprintf(tw, "%s\t\ttotal\n", report.FormatBytes(total))
	tw.Flush()
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
