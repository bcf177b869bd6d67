// Package buildkit runs and records builds on a BuildKit daemon through its
// Go client: `buildstats build` solves a Dockerfile with the built-in
// dockerfile.v0 frontend while showing BuildKit's own progress display, and
// `buildstats import` replays completed builds from the daemon's history.
//
// Every status update goes through Convert into a parse.Recorder, the same
// one that reads --progress=rawjson files, so a live record and the record of
// the same build's rawjson output are identical.
package buildkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/collect"
	"github.com/buildstats/buildstats/collect/buildrecord"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/util/appdefaults"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
	"github.com/tonistiigi/go-csvvalue"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BuildOptions describe one Dockerfile build, with buildctl's and docker
// build's meaning for each field.
type BuildOptions struct {
	// Addr is the daemon address ("unix:///run/buildkit/buildkitd.sock",
	// "tcp://host:1234", ...). Empty means $BUILDKIT_HOST, then BuildKit's
	// default socket. Builder, TLS and Getenv complete it as in Endpoint.
	Addr    string
	Builder string
	TLS     TLSOptions
	Getenv  func(string) string
	// ContextDir is the build context directory. Required.
	ContextDir string
	// Dockerfile is the Dockerfile path; empty means ContextDir/Dockerfile.
	// A relative path is taken from the current directory, as docker does.
	Dockerfile string
	Target     string
	BuildArgs  map[string]string
	// BuildContexts are named contexts, as docker buildx build
	// --build-context NAME=VALUE takes them: oci-layout://PATH[@DIGEST],
	// docker-image://REF or a directory. See addBuildContexts.
	BuildContexts map[string]string
	// Platforms are target platforms such as "linux/amd64".
	Platforms []string
	NoCache   bool
	// Outputs are buildctl --output values: "type=image,name=app:dev",
	// "type=oci,dest=out.tar", "type=local,dest=dir". None means the result
	// stays in the daemon's cache only.
	Outputs []string

	// Secrets (--secret id=ID,src=FILE|env=VAR), SSH (--ssh default|ID=PATH),
	// CacheFrom and CacheTo (type=TYPE,...), Attests (--attest
	// type=TYPE,...), Provenance and SBOM take docker buildx build's
	// syntax. Labels are image labels; Pull resolves base images afresh;
	// Network is the RUN steps' network: default, none or host.
	Secrets    []string
	SSH        []string
	CacheFrom  []string
	CacheTo    []string
	Labels     map[string]string
	Pull       bool
	Network    string
	Attests    []string
	Provenance string
	SBOM       string
	// VCSRevision and VCSSource are sent as buildx sends them (vcs:revision,
	// vcs:source), so the provenance names the commit.
	VCSRevision, VCSSource string

	// KeepLog records the whole log as plain progress (Result.Log).
	KeepLog bool

	// Progress is the display mode: "auto" (or empty), "tty", "plain",
	// "rawjson" or "quiet". ProgressOut receives it; nil means os.Stderr.
	Progress    string
	ProgressOut io.Writer

	// Ref names the build in the daemon's history; empty means a new random
	// one. The Result reports it so that a later import skips this build.
	Ref string
}

// Result is a recorded build.
type Result struct {
	// Build is the record. It is nil when there is nothing trustworthy to
	// store (see Build).
	Build *model.Build
	// Ref is the build's name in the daemon's history.
	Ref string
	// ExporterResponse is what the exporters reported (image digest, ...).
	ExporterResponse map[string]string
	// InputsErr says which of the build's inputs (model.Inputs) could
	// not be recorded; the others were.
	InputsErr error
	// Facts are the request as sent, with the provenance materials of
	// the daemon's history record when it has them.
	Facts *store.BuildFacts
	// Log is the whole log, with KeepLog.
	Log *Log
}

// Address resolves the daemon address the way buildctl does: the flag, then
// $BUILDKIT_HOST, then BuildKit's default socket.
func Address(addr string) string {
	if addr != "" {
		return addr
	}
	if env := os.Getenv("BUILDKIT_HOST"); env != "" {
		return env
	}
	return appdefaults.Address
}

// ErrEngineBuilder says the endpoint is the Docker Engine's own BuildKit,
// reached through the Engine API (collect/docker), not a BuildKit address.
var ErrEngineBuilder = errors.New("the builder is the Docker Engine's own BuildKit")

// Connect opens a client to the daemon at addr (see Address) and checks that
// it answers, so a missing daemon is reported at once, wrapped in
// collect.ErrDaemonUnavailable, instead of as a failed build.
func Connect(ctx context.Context, addr string) (*client.Client, error) {
	c, _, err := ConnectEndpoint(ctx, Endpoint{Addr: addr})
	return c, err
}

// ConnectEndpoint is Connect for any Endpoint: BuildKit's connection helpers
// dial docker-container://, kube-pod:// and ssh:// addresses, TLS options
// apply to tcp://. A buildx builder on the Docker Engine is
// ErrEngineBuilder, with the Resolved saying which engine.
func ConnectEndpoint(ctx context.Context, e Endpoint) (*client.Client, Resolved, error) {
	r, err := e.Resolve()
	if err != nil {
		return nil, r, fmt.Errorf("%w: %v", collect.ErrDaemonUnavailable, err)
	}
	if r.Engine {
		return nil, r, ErrEngineBuilder
	}
	c, err := ConnectResolved(ctx, r)
	return c, r, err
}

// ConnectResolved opens a client to r and checks that it answers.
func ConnectResolved(ctx context.Context, r Resolved, opts ...client.ClientOpt) (*client.Client, error) {
	c, err := client.New(ctx, r.Addr, append(append([]client.ClientOpt(nil), r.opts...), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: BuildKit at %s: %v", collect.ErrDaemonUnavailable, r.Name, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := c.ListWorkers(pctx); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("%w: BuildKit at %s does not answer (start buildkitd, or set --addr, --builder or BUILDKIT_HOST): %v",
			collect.ErrDaemonUnavailable, r.Name, oneLine(grpcMessage(err)))
	}
	return c, nil
}

// oneLine keeps a helper's error (a docker or kubectl command's stderr) to
// one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Build runs the build described by opts on a BuildKit daemon, shows its
// progress on opts.ProgressOut and records it.
//
// A build that ran to its end is recorded whatever its outcome: on success
// the error is nil; when a step failed or ctx was cancelled, Build returns
// the Result with the failed or cancelled record and an error saying why
// (errors.Is(err, context.Canceled) for a cancellation). When the daemon
// cannot be reached (collect.ErrDaemonUnavailable) or goes away mid-build
// (collect.ErrDaemonLost), the Result's Build is nil: nothing is half
// recorded.
func Build(ctx context.Context, opts BuildOptions) (*Result, error) {
	solveOpt, facts, err := opts.solveOpt()
	if err != nil {
		return nil, err
	}
	c, endpoint, err := ConnectEndpoint(ctx, Endpoint{Addr: opts.Addr, Builder: opts.Builder, TLS: opts.TLS, Getenv: opts.Getenv})
	if err != nil {
		return nil, err
	}
	addr := endpoint.Name
	defer c.Close()

	display, err := NewDisplay(opts.ProgressOut, opts.Progress)
	if err != nil {
		return nil, err
	}

	inputs := collect.StartLiveInputs(ctx, opts.ContextDir, opts.Dockerfile, opts.BuildArgs, opts.Target, opts.NoCache)
	ref := opts.Ref
	if ref == "" {
		ref = identity.NewID()
	}
	solveOpt.Ref = ref
	res := &Result{Ref: ref, Facts: facts}

	rec := parse.NewRecorder()
	statusCh := make(chan *client.SolveStatus)
	displayCh := make(chan *client.SolveStatus)
	recorded := make(chan struct{})
	logWritten := func() {}
	recordOut := displayCh
	if opts.KeepLog {
		// The log gets its own plain display, whatever the user sees.
		res.Log = &Log{}
		logCh, wait := logDisplay(res.Log)
		logWritten = wait
		shown := make(chan *client.SolveStatus)
		go tee(shown, displayCh, logCh)
		recordOut = shown
	}
	go func() {
		Record(rec, statusCh, recordOut)
		close(recorded)
	}()
	displayed := make(chan struct{})
	go func() {
		// The display runs until the stream ends, not until ctx ends, so
		// the vertices a cancellation marks CANCELED are still shown.
		_, _ = display.UpdateFrom(context.WithoutCancel(ctx), displayCh)
		close(displayed)
	}()

	resp, solveErr := c.Solve(ctx, nil, solveOpt, statusCh)
	<-recorded
	<-displayed
	logWritten()
	if resp != nil {
		res.ExporterResponse = resp.ExporterResponse
	}
	b := rec.Build()
	if testHookRecorded != nil {
		testHookRecorded(b)
	}
	// Set after the hook: the record must equal the rawjson parse, which
	// cannot know where the stream came from.
	b.Source = "buildkit"
	b.Builder = "buildkit " + addr
	res.InputsErr = inputs.Apply(b)
	if solveErr == nil || ctx.Err() == nil {
		// The materials BuildKit resolved, from its provenance of the
		// build; a failed build's record has them too.
		addMaterials(context.WithoutCancel(ctx), c, ref, facts)
	}

	if solveErr == nil {
		b.Status = model.StatusSucceeded
		applyExporterResponse(b, res.ExporterResponse)
		res.Build = b
		return res, nil
	}
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		MarkCanceled(b, cause)
		res.Build = b
		return res, fmt.Errorf("build cancelled: %w", cause)
	}
	if daemonGone(c, solveErr) {
		return &Result{Ref: ref}, fmt.Errorf("%w: BuildKit at %s: %v; nothing was recorded", collect.ErrDaemonLost, addr, grpcMessage(solveErr))
	}
	ApplyError(b, solveErr)
	res.Build = b
	return res, solveErr
}

// NewRef is a fresh history ref for BuildOptions.Ref, as BuildKit's
// clients make them: a caller that must claim a build before it runs
// (see store.Store.Claim) knows its ref first.
func NewRef() string { return identity.NewID() }

// testHookRecorded, when set by tests, sees the recorder's build before
// Build adds what only the solve result says.
var testHookRecorded func(*model.Build)

// Record feeds every status from in to rec and forwards it to out, when out
// is not nil, until in is closed; then it closes out. It is the one place a
// live stream meets the recorder, so the display never sees an update the
// record missed.
func Record(rec *parse.Recorder, in <-chan *client.SolveStatus, out chan<- *client.SolveStatus) {
	for st := range in {
		rec.Add(Convert(st))
		if out != nil {
			out <- st
		}
	}
	if out != nil {
		close(out)
	}
}

// ApplyError marks b failed with err, BuildKit's solve error: the summary
// line buildctl prints after `error: ` and the Dockerfile excerpt it prints
// above it, as the rawjson parser would take them from a log.
func ApplyError(b *model.Build, err error) {
	b.Status = model.StatusFailed
	if b.Error == "" {
		b.Error = grpcMessage(err)
	}
	for _, src := range errdefs.Sources(err) {
		var buf bytes.Buffer
		if src.Print(&buf) != nil {
			continue
		}
		applyExcerpt(b, buf.String())
		break
	}
}

// applyExcerpt reads errdefs.Source.Print output:
//
//	Dockerfile:3
//	--------------------
//	   3 | >>> RUN make
//	--------------------
func applyExcerpt(b *model.Build, text string) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) < 2 {
		return
	}
	head := strings.TrimSpace(lines[0])
	i := strings.LastIndexByte(head, ':')
	if i <= 0 {
		return
	}
	n, err := strconv.Atoi(head[i+1:])
	if err != nil {
		return
	}
	b.ErrorFile, b.ErrorLine = head[:i], n
	b.ErrorContext = nil
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "--------------------") {
			continue
		}
		b.ErrorContext = append(b.ErrorContext, l) // as printed, as the log parsers keep it
	}
}

// MarkCanceled records a cancelled build: canceled, with every vertex that
// had not finished marked cancelled, as BuildKit's display shows them, and
// so is every vertex that never started or ended only with the
// cancellation's error: none of them ran.
func MarkCanceled(b *model.Build, cause error) {
	b.Status = model.StatusCanceled
	if b.Error == "" {
		b.Error = "build cancelled: " + cause.Error()
	}
	for _, v := range b.Vertices {
		switch {
		case !v.Completed:
			v.Canceled, v.Completed = true, true
		case v.Cached:
		case v.Error != "" && (v.Started.IsZero() || strings.Contains(v.Error, "canceled")):
			v.Canceled = true
		}
	}
}

// applyExporterResponse fills the image facts the exporters report and the
// status stream may not (the image exporter names no "writing image" item).
func applyExporterResponse(b *model.Build, resp map[string]string) {
	if b.ImageID == "" {
		if d := resp["containerimage.config.digest"]; d != "" {
			b.ImageID = d
		}
	}
	if len(b.ImageNames) == 0 && resp["image.name"] != "" {
		for _, n := range strings.Split(resp["image.name"], ",") {
			if n = strings.TrimSpace(n); n != "" {
				b.ImageNames = append(b.ImageNames, n)
			}
		}
	}
}

// daemonGone tells a lost daemon from a failed build: the transport says
// so, or the daemon no longer answers.
func daemonGone(c *client.Client, err error) bool {
	if s, ok := status.FromError(err); ok && s.Code() == codes.Unavailable {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, perr := c.ListWorkers(ctx)
	return perr != nil
}

// grpcMessage strips gRPC's "rpc error: code = X desc = " wrapping, which
// says nothing to a user.
func grpcMessage(err error) string {
	msg := err.Error()
	for {
		i := strings.Index(msg, "rpc error: code = ")
		if i < 0 {
			return msg
		}
		j := strings.Index(msg[i:], " desc = ")
		if j < 0 {
			return msg
		}
		msg = msg[:i] + msg[i+j+len(" desc = "):]
	}
}

// solveOpt turns the options into a dockerfile.v0 solve, and says what
// is recorded of the request.
func (o BuildOptions) solveOpt() (client.SolveOpt, *store.BuildFacts, error) {
	var so client.SolveOpt
	if o.ContextDir == "" {
		return so, nil, errors.New("no build context directory given")
	}
	if fi, err := os.Stat(o.ContextDir); err != nil {
		return so, nil, fmt.Errorf("build context: %w", err)
	} else if !fi.IsDir() {
		return so, nil, fmt.Errorf("build context %s is not a directory", o.ContextDir)
	}
	dockerfile := o.Dockerfile
	if dockerfile == "" {
		dockerfile = filepath.Join(o.ContextDir, "Dockerfile")
	}
	if fi, err := os.Stat(dockerfile); err != nil {
		return so, nil, fmt.Errorf("Dockerfile: %w", err)
	} else if fi.IsDir() {
		return so, nil, fmt.Errorf("Dockerfile %s is a directory", dockerfile)
	}
	ctxFS, err := fsutil.NewFS(o.ContextDir)
	if err != nil {
		return so, nil, fmt.Errorf("build context: %w", err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(dockerfile))
	if err != nil {
		return so, nil, fmt.Errorf("Dockerfile directory: %w", err)
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	attrs := map[string]string{"filename": filepath.Base(dockerfile)}
	if o.Target != "" {
		attrs["target"] = o.Target
	}
	for k, v := range o.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	for k, v := range o.Labels {
		attrs["label:"+k] = v
	}
	if len(o.Platforms) > 0 {
		attrs["platform"] = strings.Join(o.Platforms, ",")
	}
	if o.NoCache {
		attrs["no-cache"] = "" // empty: no cache for any stage
	}
	if o.Pull {
		attrs["image-resolve-mode"] = "pull"
	}
	network, entitlements, err := networkMode(o.Network)
	if err != nil {
		return so, nil, err
	}
	if network != "" {
		attrs["force-network-mode"] = network
	}
	if o.VCSRevision != "" {
		attrs["vcs:revision"] = o.VCSRevision
	}
	if o.VCSSource != "" {
		attrs["vcs:source"] = o.VCSSource
	}
	attests, err := attestAttrs(o.Attests, o.Provenance, o.SBOM)
	if err != nil {
		return so, nil, err
	}
	for k, v := range attests {
		attrs[k] = v
	}
	exports, err := ParseOutputs(o.Outputs)
	if err != nil {
		return so, nil, err
	}
	cacheFrom, err := ParseCache("cache-from", o.CacheFrom)
	if err != nil {
		return so, nil, err
	}
	cacheTo, err := ParseCache("cache-to", o.CacheTo)
	if err != nil {
		return so, nil, err
	}
	// Registry credentials from ~/.docker/config.json, as buildctl
	// offers them, for FROM images behind a login.
	attach := []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{})}
	secrets, secretIDs, err := secretProvider(o.Secrets, getenv)
	if err != nil {
		return so, nil, err
	}
	if secrets != nil {
		attach = append(attach, secrets)
	}
	ssh, sshIDs, err := sshProvider(o.SSH)
	if err != nil {
		return so, nil, err
	}
	if ssh != nil {
		attach = append(attach, ssh)
	}
	so = client.SolveOpt{
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       attrs,
		LocalMounts:         map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports:             exports,
		CacheImports:        cacheFrom,
		CacheExports:        cacheTo,
		AllowedEntitlements: entitlements,
		Session:             attach,
	}
	if err := addBuildContexts(&so, o.BuildContexts); err != nil {
		return so, nil, err
	}
	facts := buildrecord.Facts(so.Frontend, so.FrontendAttrs, nil)
	facts.CacheFrom, facts.CacheTo = cacheRefs(cacheFrom), cacheRefs(cacheTo)
	facts.Secrets, facts.SSH = secretIDs, sshIDs
	for _, e := range exports {
		facts.Outputs = append(facts.Outputs, e.Type)
	}
	return so, facts, nil
}

// cacheRefs says what a cache setting is, without its credentials: the
// type and the ref, src or dest.
func cacheRefs(list []client.CacheOptionsEntry) []string {
	var out []string
	for _, e := range list {
		s := "type=" + e.Type
		for _, k := range []string{"ref", "src", "dest", "mode"} {
			if v := e.Attrs[k]; v != "" {
				s += "," + k + "=" + v
			}
		}
		out = append(out, s)
	}
	return out
}

// addMaterials adds the materials of the build's provenance in the
// daemon's history to facts.
func addMaterials(ctx context.Context, c *client.Client, ref string, facts *store.BuildFacts) {
	if facts == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{Ref: ref, EarlyExit: true})
	if err != nil {
		return
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return
		}
		if rec := ev.GetRecord(); rec != nil && rec.GetRef() == ref && ev.GetType() == controlapi.BuildHistoryEventType_COMPLETE {
			if prov := provenance(ctx, c, rec); prov != nil {
				facts.Materials = buildrecord.Facts(facts.Frontend, map[string]string{}, prov).Materials
			}
			return
		}
	}
}

// ParseOutputs parses buildctl-style --output values into export entries.
// A file destination is opened only when the exporter writes it, so a build
// that fails early leaves no empty file behind.
func ParseOutputs(outputs []string) ([]client.ExportEntry, error) {
	var entries []client.ExportEntry
	for _, s := range outputs {
		fields, err := csvvalue.Fields(s, nil)
		if err != nil {
			return nil, fmt.Errorf("--output %q: %w", s, err)
		}
		ex := client.ExportEntry{Attrs: map[string]string{}}
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("--output %q: %q is not key=value", s, f)
			}
			if k = strings.ToLower(strings.TrimSpace(k)); k == "type" {
				ex.Type = v
			} else {
				ex.Attrs[k] = v
			}
		}
		if ex.Type == "" {
			return nil, fmt.Errorf("--output %q: type=<type> is required", s)
		}
		dest := ex.Attrs["dest"]
		switch ex.Type {
		case client.ExporterLocal:
			if dest == "" {
				return nil, fmt.Errorf("--output %q: the local exporter needs dest=DIR", s)
			}
			ex.OutputDir = dest
			delete(ex.Attrs, "dest")
		case client.ExporterTar, client.ExporterOCI, client.ExporterDocker:
			if ex.Type != client.ExporterTar && ex.Attrs["tar"] == "false" {
				if dest == "" {
					return nil, fmt.Errorf("--output %q: needs dest=DIR", s)
				}
				ex.OutputDir = dest
			} else {
				if dest == "" || dest == "-" {
					return nil, fmt.Errorf("--output %q: needs dest=FILE (buildstats keeps stdout for its report)", s)
				}
				ex.Output = func(map[string]string) (io.WriteCloser, error) { return os.Create(dest) }
			}
			delete(ex.Attrs, "dest")
		}
		entries = append(entries, ex)
	}
	return entries, nil
}

// NewDisplay returns BuildKit's own progress display writing to out
// (stderr when nil) in mode ("tty", "plain", "rawjson", ...; "" picks tty on
// a terminal, else plain), so a recorded build looks as people know it.
func NewDisplay(out io.Writer, mode string) (progressui.Display, error) {
	if out == nil {
		out = os.Stderr
	}
	m := progressui.DisplayMode(mode)
	if mode == "" {
		m = progressui.AutoMode
	}
	d, err := progressui.NewDisplay(out, m)
	if err != nil {
		return d, fmt.Errorf("progress display %q: %w", mode, err)
	}
	return d, nil
}
