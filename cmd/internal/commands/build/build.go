// Package build is the build command: a Dockerfile build run on BuildKit or
// the Docker Engine, recorded live, stored and explained.
package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/cmd/internal/commands/layers"
	"github.com/buildstats/buildstats/collect"
	"github.com/buildstats/buildstats/collect/buildenv"
	bkcollect "github.com/buildstats/buildstats/collect/buildkit"
	dockercollect "github.com/buildstats/buildstats/collect/docker"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are build's flags and argument.
type Options struct {
	ContextDir string
	Daemon     cli.DaemonFlags
	Docker     bool
	File       string
	Target     string
	BuildArgs  []string
	Contexts   []string
	Platforms  []string
	NoCache    bool
	Outputs    []string
	Tags       []string
	Network    string
	Secrets    []string
	SSH        []string
	CacheFrom  []string
	CacheTo    []string
	Labels     []string
	Pull       bool
	Attests    []string
	Provenance string
	SBOM       string
	KeepLogs   bool
	Progress   *cli.Enum
	Format     *cli.Enum
	DB         string
	NoStore    bool
	Project    string
	OTLP       cli.TraceFlags // also send the build as a trace
}

// New returns the build command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "build [flags] CONTEXT",
		Short: "Run a build on BuildKit or Docker, record it live and explain it",
		Long: `Build runs a Dockerfile build on a BuildKit daemon (default) or, with --docker,
on the Docker Engine, shows BuildKit's usual progress on standard error, records
the live status stream (exact step times, the step graph, cache hits, errors,
output), stores the build in the history and prints its explanation.

The BuildKit daemon is --addr, else $BUILDKIT_HOST, else the default socket.
With --docker, --addr is the Docker host, else $DOCKER_HOST. Builds use the
built-in Dockerfile frontend: a "# syntax=" line would need a registry.

The history is opened before the build starts: a --db that cannot be used is
refused before anything runs.`,
		Example: `  buildstats build .
  buildstats build --addr unix:///run/buildkit/buildkitd.sock -f app.Dockerfile --target prod .
  buildstats build --docker -t app:dev --build-arg VERSION=2 .`,
		Args: cli.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ContextDir = args[0]
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.Progress = cli.NewEnum("auto", "auto", "tty", "plain", "rawjson", "quiet")
	cli.AddEnumFlag(cmd, opts.Progress, "progress", "progress display")
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON, cli.FormatMarkdown)
	cli.AddDBFlag(cmd, &opts.DB)
	fl := cmd.Flags()
	cli.AddDaemonFlags(cmd, &opts.Daemon, "daemon address (BuildKit: unix://, tcp://, docker-container://NAME, kube-pod://NAME, ssh://; default $BUILDKIT_HOST; with --docker: the Docker host, default $DOCKER_HOST)")
	fl.BoolVar(&opts.Docker, "docker", false, "build on the Docker Engine instead of a BuildKit daemon")
	fl.StringVarP(&opts.File, "file", "f", "", "Dockerfile (default CONTEXT/Dockerfile)")
	fl.StringVar(&opts.Target, "target", "", "build stage to stop at")
	fl.StringArrayVar(&opts.BuildArgs, "build-arg", nil, "build argument KEY=VALUE (KEY alone takes the environment's value)")
	fl.StringArrayVar(&opts.Contexts, "build-context", nil, "named context NAME=VALUE, as docker buildx takes it (BuildKit only): oci-layout:///path[@sha256:…], docker-image://REF or a directory")
	fl.StringSliceVar(&opts.Platforms, "platform", nil, "target platform(s), os/arch[/variant]")
	fl.BoolVar(&opts.NoCache, "no-cache", false, "do not use the build cache")
	fl.StringArrayVarP(&opts.Outputs, "output", "o", nil, "BuildKit output, buildctl syntax: type=image,name=app:dev | type=oci,dest=FILE | type=local,dest=DIR")
	fl.StringArrayVarP(&opts.Tags, "tag", "t", nil, "image name (--docker: tag; BuildKit: adds type=image,name=TAG)")
	fl.StringVar(&opts.Network, "network", "", "network for RUN steps: default, none, host")
	fl.StringArrayVar(&opts.Secrets, "secret", nil, "secret for RUN --mount=type=secret, as buildx takes it: id=ID,src=FILE | id=ID,env=VAR (BuildKit only; only the id is recorded)")
	fl.StringArrayVar(&opts.SSH, "ssh", nil, "SSH agent or keys for RUN --mount=type=ssh: default | ID=SOCKET|KEY[,...] (BuildKit only)")
	fl.StringArrayVar(&opts.CacheFrom, "cache-from", nil, "cache source, as buildx takes it: type=local,src=DIR | type=registry,ref=REF | REF")
	fl.StringArrayVar(&opts.CacheTo, "cache-to", nil, "cache destination, as buildx takes it: type=local,dest=DIR[,mode=max] | type=registry,ref=REF | type=inline (BuildKit only)")
	fl.StringArrayVar(&opts.Labels, "label", nil, "image label KEY=VALUE")
	fl.BoolVar(&opts.Pull, "pull", false, "always look base images up afresh")
	fl.StringArrayVar(&opts.Attests, "attest", nil, "attestation, as buildx takes it: type=provenance[,mode=max] | type=sbom (BuildKit only)")
	fl.StringVar(&opts.Provenance, "provenance", "", "provenance attestation: true, false or mode=min|max (BuildKit only)")
	fl.StringVar(&opts.SBOM, "sbom", "", "SBOM attestation: true or false (BuildKit only; its scanner is an image)")
	fl.BoolVar(&opts.KeepLogs, "keep-logs", false, "store the build's whole log (gzip'd, capped; see buildstats logs) and step output; logs can hold secrets")
	fl.BoolVar(&opts.NoStore, "no-store", false, "do not store the build in the history")
	fl.StringVar(&opts.Project, "project", "", "project name for the history (default from CI or the git remote)")
	opts.OTLP.Register(cmd)
	return cmd
}

// Run builds, records, stores and explains.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	renderer, err := report.NewRenderer(opts.Format.Value, f.RenderOptions(false, false))
	if err != nil {
		return cli.UsageError(err)
	}
	req, err := opts.parseRequest(f)
	if err != nil {
		return err
	}
	args, contexts, labels := req.args, req.contexts, req.labels
	// Which daemon: a buildx builder on the Docker Engine (the docker
	// driver) builds as --docker does.
	endpoint := opts.endpoint(f)
	dockerHost := opts.Daemon.Addr
	if opts.Docker {
		if opts.Daemon.Builder != "" || endpoint.TLS != (bkcollect.TLSOptions{}) {
			return cli.UsageError(errors.New("--builder and the TLS flags are for BuildKit builds; with --docker, --addr is the Docker host"))
		}
	} else {
		r, err := endpoint.Resolve()
		if err != nil {
			return cli.UsageError(err)
		}
		if r.Engine {
			opts.Docker, dockerHost = true, r.DockerHost
		}
	}
	dockerfilePath := opts.File
	if dockerfilePath == "" {
		dockerfilePath = filepath.Join(opts.ContextDir, "Dockerfile")
	}
	// The collectors check these too, but their errors would exit 1; a
	// missing context or Dockerfile is the user's to fix (exit 2).
	if fi, err := os.Stat(opts.ContextDir); err != nil {
		return cli.UsageError(fmt.Errorf("build context: %w", err))
	} else if !fi.IsDir() {
		return cli.UsageError(fmt.Errorf("build context %s is not a directory", opts.ContextDir))
	}
	if fi, err := os.Stat(dockerfilePath); err != nil {
		return cli.UsageError(fmt.Errorf("Dockerfile: %w", err))
	} else if fi.IsDir() {
		return cli.UsageError(fmt.Errorf("Dockerfile %s is a directory", dockerfilePath))
	}
	// An existing history is opened first: a build that cannot be stored
	// should not run. A missing one is created only when there is a build.
	var s store.Store
	if !opts.NoStore {
		target, err := f.HistoryTarget(opts.DB)
		if err != nil {
			return err
		}
		if backend.Exists(target) {
			if s, err = f.OpenHistory(ctx, opts.DB, backend.Write); err != nil {
				return err
			}
			defer s.Close()
		} else if err := creatable(target); err != nil {
			return cli.UsageError(fmt.Errorf("the build history %s cannot be created: %w", target, err))
		}
	}

	// An unusable --otlp endpoint, too, stops the build before it runs.
	traces, err := f.OpenTraces(ctx, opts.OTLP)
	if err != nil {
		return err
	}
	if traces != nil {
		defer traces.Close(context.Background())
	}

	// ^C cancels the build; the daemon stops it and the cancelled build is
	// still recorded.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		b         *model.Build
		buildErr  error
		inputsErr error
		sizes     []dockercollect.LayerSize
		ref       string
		facts     *store.BuildFacts
		log       *bkcollect.Log
	)
	// The commit, sent as buildx sends it so the provenance names it.
	vcs := f.DetectMeta(opts.ContextDir, store.Meta{Project: opts.Project})
	if opts.Docker {
		platform := ""
		if len(opts.Platforms) == 1 {
			platform = opts.Platforms[0]
		}
		res, err := dockercollect.Build(ctx, dockercollect.BuildOptions{
			Host: dockerHost, ContextDir: opts.ContextDir, Dockerfile: opts.File, Target: opts.Target,
			BuildArgs: args, Platform: platform, NoCache: opts.NoCache, Tags: opts.Tags,
			NetworkMode: opts.Network, Labels: labels, Pull: opts.Pull, CacheFrom: opts.CacheFrom,
			Progress: opts.Progress.Value, ProgressOut: f.IO.ErrOut,
		})
		if res != nil {
			b, sizes, inputsErr = res.Build, res.Layers, res.InputsErr
		}
		buildErr = err
	} else {
		outputs := append([]string(nil), opts.Outputs...)
		for _, t := range opts.Tags {
			outputs = append(outputs, "type=image,name="+t)
		}
		// The build is claimed before it runs, under the ref it will
		// have, so a concurrent `import --follow` leaves it to us.
		ref = bkcollect.NewRef()
		if s != nil {
			claim, ok, err := HoldClaim(ctx, s, ClaimKey(ref), ClaimOwner("build"))
			switch {
			case err != nil:
				return cli.HistoryError(err)
			case !ok: // a fresh random ref: cannot happen
				return fmt.Errorf("build ref %s is claimed by another process", ref)
			}
			defer claim.Release()
		}
		res, err := bkcollect.Build(ctx, bkcollect.BuildOptions{
			Ref:  ref,
			Addr: endpoint.Addr, Builder: endpoint.Builder, TLS: endpoint.TLS, Getenv: endpoint.Getenv, ContextDir: opts.ContextDir, Dockerfile: opts.File, Target: opts.Target,
			BuildArgs: args, BuildContexts: contexts, Platforms: opts.Platforms, NoCache: opts.NoCache, Outputs: outputs,
			Secrets: opts.Secrets, SSH: opts.SSH, CacheFrom: opts.CacheFrom, CacheTo: opts.CacheTo, Labels: labels,
			Pull: opts.Pull, Network: opts.Network, Attests: opts.Attests, Provenance: opts.Provenance, SBOM: opts.SBOM,
			VCSRevision: vcs.Commit, VCSSource: buildenv.OriginURL(opts.ContextDir), KeepLog: opts.KeepLogs,
			Progress: opts.Progress.Value, ProgressOut: f.IO.ErrOut,
		})
		if res != nil {
			b, ref, inputsErr, facts, log = res.Build, res.Ref, res.InputsErr, res.Facts, res.Log
		}
		buildErr = err
	}
	if b == nil {
		// Nothing ran to a conclusion: no record, no report.
		if errors.Is(buildErr, collect.ErrDaemonUnavailable) {
			return cli.UsageError(buildErr)
		}
		if errors.Is(buildErr, context.Canceled) {
			return &cli.StatusError{Status: cli.ExitInterrupted, Err: buildErr}
		}
		if buildErr == nil {
			buildErr = errors.New("the build produced no record")
		}
		return buildErr
	}

	f.Redactor().Build(b) // before it is stored or shown
	if inputsErr != nil {
		f.Warn("%v", inputsErr)
	}
	var df *dockerfile.File
	if parsed, err := dockerfile.ParseFile(dockerfilePath); err == nil {
		df = parsed
		if opts.Target != "" {
			df = df.WithTarget(opts.Target)
		}
	}
	if !opts.NoStore && s == nil {
		if s, err = f.OpenHistory(ctx, opts.DB, backend.Write); err != nil {
			f.Warn("the build was not stored: %v", err)
		} else {
			defer s.Close()
		}
	}
	var meta store.Meta
	if s != nil || traces != nil {
		meta = opts.meta(f, b, ref, facts, req, dockerfilePath)
	}
	// Why the cache broke: against the project's latest stored build,
	// found before this one is stored.
	var base *report.Baseline
	if s != nil {
		var err error
		// Only a build of the same builder: another builder's cache is
		// not this one's to lose.
		if base, err = f.FindBaselineOn(context.WithoutCancel(ctx), s, meta.Project, b.Builder, b, meta.Started); err != nil {
			f.Warn("the causes of cache breaks were not looked up: %v", err)
		}
	}
	e := report.Explain(b, report.Options{Dockerfile: df, Baseline: base})
	var id int64
	if s != nil {
		ingestOpts := store.IngestOptions{Causes: report.BreakCauses(e), KeepLogs: opts.KeepLogs}
		if log != nil {
			ingestOpts.Log = KeptLog(f.Redactor(), log)
		}
		if id, _, err = s.Ingest(context.WithoutCancel(ctx), b, meta, ingestOpts); err != nil {
			f.Warn("the build was not stored: %v", err)
		}
	}
	// On stderr: stdout is the explanation, which may be JSON.
	if err := f.SendTraces(context.WithoutCancel(ctx), traces, f.IO.ErrOut,
		[]cli.TraceBuild{{Build: b, Meta: meta, ID: id, Dockerfile: df, ThisRun: true}}); err != nil {
		f.Warn("the build was not sent as a trace: %v", err)
	}
	if err := renderer.Render(f.IO.Out, e); err != nil {
		return err
	}
	if len(sizes) > 0 && opts.Format.Value == cli.FormatTable {
		fmt.Fprintln(f.IO.Out)
		list := report.NewLayerList("", layers.ReportLayers(nil, sizes))
		if err := report.RenderLayers(f.IO.Out, cli.FormatTable, list, true, f.RenderOptions(false, false)); err != nil {
			return err
		}
	}
	if buildErr != nil {
		// The explanation already shows the error; the exit status says the
		// build failed, or 130 when it was interrupted.
		if b.Status == model.StatusCanceled || errors.Is(buildErr, context.Canceled) {
			return &cli.StatusError{Status: cli.ExitInterrupted, Err: buildErr}
		}
		return cli.Failed(buildErr)
	}
	return nil
}

// creatable checks that a missing SQLite history could be created at
// path, as the store creates it (with its missing directories): the
// nearest existing ancestor is a directory that takes a new file. A server
// history is opened, not created, so it needs no check here.
func creatable(path string) error {
	if backend.IsPostgres(path) {
		return nil
	}
	dir := filepath.Dir(path)
	for {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", dir)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return err
		}
		dir = parent
	}
	probe, err := os.CreateTemp(dir, ".buildstats-probe-*")
	if err != nil {
		return err
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// KeptLog is a build's whole log as stored by --keep-logs: secrets masked
// line by line, gzip'd.
func KeptLog(r *redact.Redactor, l *bkcollect.Log) *store.BuildLog {
	lines := strings.Split(string(l.Text), "\n")
	return store.NewBuildLog([]byte(strings.Join(r.Lines(lines), "\n")), l.Truncated)
}

// RedactFacts masks secrets in what facts hold as text, as the build's
// inputs are masked: a build arg whose name looks secret keeps the hash
// its inputs hold, other values and URLs are masked by r.
func RedactFacts(r *redact.Redactor, facts *store.BuildFacts, in *model.Inputs) *store.BuildFacts {
	if facts == nil {
		return nil
	}
	c := *facts
	hashed := map[string]string{}
	if in != nil && in.Args != nil {
		for _, a := range in.Args.Values {
			if a.Hashed {
				hashed[a.Name] = a.Value
			}
		}
	}
	mask := func(m map[string]string, keepHashed bool) map[string]string {
		if m == nil {
			return nil
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			if h, ok := hashed[k]; ok && keepHashed {
				out[k] = h
			} else {
				out[k] = r.String(v)
			}
		}
		return out
	}
	c.BuildArgs = mask(facts.BuildArgs, true)
	c.Labels = mask(facts.Labels, false)
	c.Contexts = mask(facts.Contexts, false)
	c.VCSSource = r.String(facts.VCSSource)
	list := func(l []string) []string {
		if l == nil {
			return nil
		}
		out := make([]string, len(l))
		for i, v := range l {
			out[i] = r.String(v)
		}
		return out
	}
	c.CacheFrom, c.CacheTo = list(facts.CacheFrom), list(facts.CacheTo)
	c.Materials = append([]store.Material(nil), facts.Materials...)
	for i := range c.Materials {
		c.Materials[i].URI = r.String(c.Materials[i].URI)
	}
	return &c
}

// endpoint is the BuildKit daemon the flags name.
func (o Options) endpoint(f *cli.Factory) bkcollect.Endpoint {
	return Endpoint(f, o.Daemon)
}

// Endpoint turns the daemon flags into a BuildKit endpoint, reading the
// environment through f.
func Endpoint(f *cli.Factory, d cli.DaemonFlags) bkcollect.Endpoint {
	return bkcollect.Endpoint{
		Addr: d.Addr, Builder: d.Builder, Getenv: f.Env,
		TLS: bkcollect.TLSOptions{CACert: d.TLSCACert, Cert: d.TLSCert, Key: d.TLSKey, ServerName: d.TLSServerName},
	}
}

// ParseBuildArgs turns KEY=VALUE flags into a map; a bare KEY takes its
// value from the environment, as docker build does, and is left out when
// unset.
func ParseBuildArgs(list []string, getenv func(string) string) (map[string]string, error) {
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

// request is what the flags ask of the build beyond the options as given.
type request struct {
	args, contexts, labels map[string]string
}

// parseRequest checks the flags that describe the build and adds the
// secrets' values to what is masked; errors are usage errors.
func (o *Options) parseRequest(f *cli.Factory) (request, error) {
	args, err := ParseBuildArgs(o.BuildArgs, f.Env)
	if err != nil {
		return request{}, cli.UsageError(err)
	}
	contexts := map[string]string{}
	for _, c := range o.Contexts {
		k, v, ok := strings.Cut(c, "=")
		if !ok || k == "" || v == "" {
			return request{}, cli.UsageError(fmt.Errorf("--build-context %q: want NAME=VALUE", c))
		}
		contexts[k] = v
	}
	switch {
	case o.Docker && len(o.Contexts) > 0:
		return request{}, cli.UsageError(errors.New("--build-context is for BuildKit builds"))
	case o.Docker && len(o.Outputs) > 0:
		return request{}, cli.UsageError(errors.New("--output is for BuildKit builds; with --docker use -t"))
	case o.Docker && len(o.Platforms) > 1:
		return request{}, cli.UsageError(errors.New("--docker builds one platform at a time"))
	case o.Docker && (len(o.Secrets) > 0 || len(o.SSH) > 0 || len(o.CacheTo) > 0 || len(o.Attests) > 0 || o.Provenance != "" || o.SBOM != ""):
		return request{}, cli.UsageError(errors.New("--secret, --ssh, --cache-to, --attest, --provenance and --sbom are for BuildKit builds"))
	}
	// A secret's value is masked wherever the build's output shows it.
	values, err := bkcollect.SecretValues(o.Secrets, f.Env)
	if err != nil {
		return request{}, cli.UsageError(err)
	}
	f.Redactor().Add(values...)
	labels := map[string]string{}
	for _, l := range o.Labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return request{}, cli.UsageError(fmt.Errorf("--label %q: want KEY=VALUE", l))
		}
		labels[k] = v
	}
	return request{args: args, contexts: contexts, labels: labels}, nil
}

// meta is what the history and a trace record of a finished live build: the
// detected project, branch and commit, the daemon's ref, its facts (for a
// --docker build, those the request gave) and its start.
func (o *Options) meta(f *cli.Factory, b *model.Build, ref string, facts *store.BuildFacts, req request, dockerfilePath string) store.Meta {
	meta := store.Meta{Project: o.Project, Dockerfile: dockerfilePath, Tags: o.Tags, Source: "live"}
	if ref != "" {
		// The daemon's history ref: a later `buildstats import` of the
		// same daemon recognises this build and skips it.
		meta.ContentHash, meta.Source = bkcollect.ContentHash(ref), "buildkit:"+ref
	}
	meta = f.DetectMeta(o.ContextDir, meta)
	meta.BuildKitRef = ref
	if facts == nil && o.Docker {
		facts = &store.BuildFacts{Frontend: "dockerfile.v0", Dockerfile: filepath.Base(dockerfilePath), Target: o.Target,
			Platforms: o.Platforms, NoCache: o.NoCache, Pull: o.Pull, Network: o.Network, CacheFrom: o.CacheFrom}
		if len(req.args) > 0 {
			facts.BuildArgs = req.args
		}
		if len(req.labels) > 0 {
			facts.Labels = req.labels
		}
	}
	if facts != nil && facts.VCSRevision == "" {
		facts.VCSRevision = meta.Commit
	}
	meta.Facts = RedactFacts(f.Redactor(), facts, b.Inputs)
	if meta.Started.IsZero() {
		// The stream's first vertex start, else the time of ingest.
		meta.Started, meta.StartedSource = store.StartTime(b, time.Time{}, time.Time{})
		if meta.Started.IsZero() {
			meta.Started, meta.StartedSource = f.Clock(), "ingest"
		}
	}
	return meta
}
