// Package docker runs and records BuildKit builds through the Docker
// Engine API (github.com/moby/moby/client): the context is sent to /build
// with version=2, and the moby.buildkit.trace messages in the response, each
// a protobuf StatusResponse of BuildKit's control API, are decoded into the
// same status stream, display and parse.Recorder as a direct BuildKit build.
//
// After a build that produced an image, the image history gives each layer's
// size, attached to the step that made it (MatchLayers).
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/buildstats/buildstats/collect"
	bk "github.com/buildstats/buildstats/collect/buildkit"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	controlapi "github.com/moby/buildkit/api/services/control"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/session"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BuildOptions describe one build, with docker build's meaning for each
// field.
type BuildOptions struct {
	// Host is the daemon address ("unix:///var/run/docker.sock"). Empty
	// means DOCKER_HOST and the other DOCKER_* variables, then the default
	// socket.
	Host       string
	ContextDir string
	// Dockerfile is the Dockerfile path; empty means ContextDir/Dockerfile.
	Dockerfile string
	Target     string
	BuildArgs  map[string]string
	// Platform is the target platform ("linux/amd64"); the Engine API takes
	// one.
	Platform string
	NoCache  bool
	// Tags name the image ("app:dev"). Without one the image is still
	// stored, by ID.
	Tags []string
	// NetworkMode is RUN's network ("default", "none", "host").
	NetworkMode string
	// Labels are image labels; Pull resolves base images afresh;
	// CacheFrom are images to take cache from.
	Labels    map[string]string
	Pull      bool
	CacheFrom []string

	// Progress is the display mode, as for buildkit.BuildOptions.
	Progress    string
	ProgressOut io.Writer
}

// Result is a recorded build.
type Result struct {
	// Build is the record; nil when nothing trustworthy was recorded.
	Build *model.Build
	// InputsErr says which of the build's inputs (model.Inputs) could
	// not be recorded; the others were.
	InputsErr error
	// ImageID is the built image ("sha256:..."), empty on failure.
	ImageID string
	// Layers are the image's layers with the step that made each, oldest
	// first; empty when no image was built or its history was unreadable.
	Layers []LayerSize
	// LayersErr says why Layers is empty after a successful build.
	LayersErr error
}

// Connect returns an Engine API client for host (empty: the environment)
// and checks that the daemon answers, wrapping collect.ErrDaemonUnavailable
// when it does not.
func Connect(ctx context.Context, host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: Docker at %s: %v", collect.ErrDaemonUnavailable, describeHost(host), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("%w: Docker at %s does not answer (start dockerd, or set --addr or DOCKER_HOST): %v",
			collect.ErrDaemonUnavailable, describeHost(host), err)
	}
	return c, nil
}

func describeHost(host string) string {
	if host != "" {
		return host
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return client.DefaultDockerHost
}

// Build runs the build on the Docker daemon as a BuildKit build, shows its
// progress and records it. Outcomes are as for buildkit.Build: a build that
// ran to its end (succeeded, failed or cancelled) is recorded; an
// unreachable daemon (collect.ErrDaemonUnavailable) or one lost mid-build
// (collect.ErrDaemonLost) leaves Result.Build nil.
func Build(ctx context.Context, opts BuildOptions) (*Result, error) {
	if opts.ContextDir == "" {
		return nil, errors.New("no build context directory given")
	}
	if fi, err := os.Stat(opts.ContextDir); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", opts.ContextDir)
	}
	out := opts.ProgressOut
	if out == nil {
		out = os.Stderr // the stream's own messages go where the display goes
	}
	display, err := bk.NewDisplay(out, opts.Progress)
	if err != nil {
		return nil, err
	}
	var platforms []ocispec.Platform
	if opts.Platform != "" {
		p, err := parsePlatform(opts.Platform)
		if err != nil {
			return nil, err
		}
		platforms = []ocispec.Platform{p}
	}

	c, err := Connect(ctx, opts.Host)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	host := c.DaemonHost()

	tarball, dfName, err := contextTar(opts.ContextDir, opts.Dockerfile)
	if err != nil {
		return nil, err
	}
	defer tarball.Close()
	inputs := collect.StartLiveInputs(ctx, opts.ContextDir, opts.Dockerfile, opts.BuildArgs, opts.Target, opts.NoCache)

	// The BuildKit session is how the daemon asks the client for things
	// (registry credentials, secrets); docker build always opens one.
	sess, err := session.NewSession(context.WithoutCancel(ctx), identity.NewID())
	if err != nil {
		return nil, fmt.Errorf("buildkit session: %w", err)
	}
	sessCtx, stopSession := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSession()
	go sess.Run(sessCtx, func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
		return c.DialHijack(ctx, "/session", proto, meta)
	})
	defer sess.Close()

	args := map[string]*string{}
	for k, v := range opts.BuildArgs {
		args[k] = &v
	}
	buildID := identity.NewID()
	resp, err := c.ImageBuild(ctx, tarball, client.ImageBuildOptions{
		Version:     build.BuilderBuildKit,
		Dockerfile:  dfName,
		Tags:        opts.Tags,
		Target:      opts.Target,
		BuildArgs:   args,
		NoCache:     opts.NoCache,
		NetworkMode: opts.NetworkMode,
		Labels:      opts.Labels,
		PullParent:  opts.Pull,
		CacheFrom:   opts.CacheFrom,
		Platforms:   platforms,
		SessionID:   sess.ID(),
		BuildID:     buildID,
		Remove:      true,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("build cancelled: %w", context.Cause(ctx))
		}
		if !daemonAnswers(c) {
			return nil, fmt.Errorf("%w: Docker at %s: %v; nothing was recorded", collect.ErrDaemonLost, host, err)
		}
		return nil, fmt.Errorf("docker build: %w", err)
	}
	defer resp.Body.Close()

	rec := parse.NewRecorder()
	statusCh := make(chan *bkclient.SolveStatus)
	displayCh := make(chan *bkclient.SolveStatus)
	recorded := make(chan struct{})
	go func() { bk.Record(rec, statusCh, displayCh); close(recorded) }()
	displayed := make(chan struct{})
	go func() {
		_, _ = display.UpdateFrom(context.WithoutCancel(ctx), displayCh)
		close(displayed)
	}()
	st, streamErr := decodeStream(resp.Body, statusCh, out)
	close(statusCh)
	<-recorded
	<-displayed

	b := rec.Build()
	if testHookRecorded != nil {
		testHookRecorded(b)
	}
	// Set after the hook: the record must equal the rawjson parse, which
	// cannot know where the stream came from.
	b.Source = "docker"
	b.Builder = "docker " + host
	res := &Result{Build: b, ImageID: st.imageID}
	res.InputsErr = inputs.Apply(b)

	switch {
	case ctx.Err() != nil:
		// The daemon stops the build when the request goes away; the cancel
		// call makes sure, in case a proxy keeps the request open.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.BuildCancel(cctx, buildID, client.BuildCancelOptions{})
		cancel()
		cause := context.Cause(ctx)
		bk.MarkCanceled(b, cause)
		return res, fmt.Errorf("build cancelled: %w", cause)
	case st.buildErr != "":
		b.Status = model.StatusFailed
		if b.Error == "" {
			b.Error = st.buildErr
		}
		return res, errors.New(st.buildErr)
	case streamErr != nil || !st.sawEnd:
		// The response ended without the daemon saying how the build
		// ended: the daemon or the connection died.
		why := "the build's response ended early"
		if streamErr != nil {
			why = streamErr.Error()
		}
		return &Result{}, fmt.Errorf("%w: Docker at %s: %s; nothing was recorded", collect.ErrDaemonLost, host, why)
	}
	b.Status = model.StatusSucceeded
	if b.ImageID == "" {
		b.ImageID = st.imageID
	}
	for _, t := range opts.Tags {
		if !containsString(b.ImageNames, t) {
			b.ImageNames = append(b.ImageNames, t)
		}
	}
	if st.imageID != "" {
		layers, err := ImageLayers(ctx, c, st.imageID)
		if err != nil {
			res.LayersErr = err
		} else {
			res.Layers = MatchLayers(b, layers)
			AttachLayerSizes(b, res.Layers)
		}
	}
	return res, nil
}

// testHookRecorded, when set by tests, sees the recorder's build before
// Build adds what only the response says.
var testHookRecorded func(*model.Build)

// streamState is what the /build response said besides progress.
type streamState struct {
	imageID  string
	buildErr string
	// sawEnd: the daemon ended the stream properly, with the image ID or an
	// error; a cut connection leaves it false.
	sawEnd bool
}

// decodeStream reads the /build response: JSON messages, of which
// moby.buildkit.trace carry the BuildKit status as base64 protobuf and
// moby.image.id the result. Plain stream text (rare with BuildKit) goes to
// out.
func decodeStream(r io.Reader, ch chan<- *bkclient.SolveStatus, out io.Writer) (streamState, error) {
	var st streamState
	dec := json.NewDecoder(r)
	for {
		var msg jsonstream.Message
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			return st, err
		}
		if msg.Error != nil {
			st.buildErr, st.sawEnd = msg.Error.Message, true
			continue
		}
		switch msg.ID {
		case "moby.buildkit.trace":
			if msg.Aux == nil {
				continue
			}
			ss, err := DecodeTrace(*msg.Aux)
			if err != nil {
				return st, err
			}
			ch <- ss
		case "moby.image.id":
			if msg.Aux != nil {
				var r struct{ ID string }
				if json.Unmarshal(*msg.Aux, &r) == nil && r.ID != "" {
					st.imageID, st.sawEnd = r.ID, true
				}
			}
		default:
			if msg.Stream != "" && out != nil {
				io.WriteString(out, msg.Stream)
			}
		}
	}
}

// DecodeTrace decodes the aux payload of a moby.buildkit.trace message: a
// JSON string holding base64 of a protobuf StatusResponse.
func DecodeTrace(aux json.RawMessage) (*bkclient.SolveStatus, error) {
	var data []byte
	if err := json.Unmarshal(aux, &data); err != nil {
		return nil, fmt.Errorf("moby.buildkit.trace: %w", err)
	}
	var resp controlapi.StatusResponse
	if err := resp.UnmarshalVT(data); err != nil {
		return nil, fmt.Errorf("moby.buildkit.trace: %w", err)
	}
	return bkclient.NewSolveStatus(&resp), nil
}

func daemonAnswers(c *client.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := c.Ping(ctx, client.PingOptions{})
	return err == nil
}

func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
