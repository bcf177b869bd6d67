// Package otlp sends builds as OpenTelemetry traces over OTLP (gRPC or
// HTTP/protobuf), with the OpenTelemetry Go SDK and its exporters.
//
// A build is one trace: a root span for the build and, under it, one span
// per vertex. Times are the model's own: a span starts and ends when the
// build or vertex did where the input gives absolute times (rawjson, live
// and imported builds). Where it does not (tty, plain and legacy logs state
// durations only), the span is zero-length at its parent's start and
// carries buildstats.times_known=false, with the stated duration, if any,
// as an attribute: no time is invented.
//
// The trace id is derived from the build's content hash, so sending the
// same build again gives the same trace (and span) ids.
//
// Only buildstats-live links this package: the SDK's and gRPC's package
// init stay out of the light binary.
package otlp

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/safe"
	"github.com/buildstats/buildstats/store"
)

// Protocols.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Endpoint is where traces go.
type Endpoint struct {
	// URL is the endpoint as given: "http://host:4318" or
	// "https://host:4318[/path]" (HTTP/protobuf unless Protocol says gRPC),
	// "grpc://host:4317" (gRPC, plaintext), "grpcs://host:4317" (gRPC,
	// TLS), or "host:port" (gRPC, TLS unless Insecure).
	URL string
	// Protocol is ProtocolGRPC or ProtocolHTTP; "" infers it from URL.
	Protocol string
	// Insecure sends in plaintext where the URL's scheme does not say.
	Insecure bool
}

// target is a parsed Endpoint.
type target struct {
	protocol string
	hostPort string
	path     string // HTTP only
	insecure bool
}

// parse checks the endpoint and says how to reach it.
func (e Endpoint) parse() (target, error) {
	raw := strings.TrimSpace(e.URL)
	if raw == "" {
		return target{}, errors.New("no OTLP endpoint given")
	}
	switch e.Protocol {
	case "", ProtocolGRPC, ProtocolHTTP:
	default:
		return target{}, fmt.Errorf("OTLP protocol %q: want %s or %s", e.Protocol, ProtocolGRPC, ProtocolHTTP)
	}
	t := target{protocol: e.Protocol, insecure: e.Insecure}
	if !strings.Contains(raw, "://") {
		// host:port, as gRPC clients take it.
		if _, _, err := net.SplitHostPort(raw); err != nil {
			return target{}, fmt.Errorf("OTLP endpoint %q: want a URL (http://host:4318) or host:port", raw)
		}
		t.hostPort = raw
		if t.protocol == "" {
			t.protocol = ProtocolGRPC
		}
	} else {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.Opaque != "" {
			return target{}, fmt.Errorf("OTLP endpoint %q: not a URL with a host", raw)
		}
		if u.User != nil {
			// Credentials go in headers (OTEL_EXPORTER_OTLP_HEADERS), not
			// in a URL that ends up in error messages and process lists.
			return target{}, errors.New("OTLP endpoint: credentials in the URL are not sent; use OTEL_EXPORTER_OTLP_HEADERS")
		}
		t.hostPort = u.Host
		if u.Port() == "" {
			return target{}, fmt.Errorf("OTLP endpoint %q: no port (OTLP listens on 4317 for gRPC, 4318 for HTTP)", raw)
		}
		switch u.Scheme {
		case "http", "https":
			if t.protocol == "" {
				t.protocol = ProtocolHTTP
			}
			t.insecure = u.Scheme == "http"
		case "grpc", "grpcs":
			if t.protocol == ProtocolHTTP {
				return target{}, fmt.Errorf("OTLP endpoint %q is gRPC, but the protocol is %s", raw, ProtocolHTTP)
			}
			t.protocol = ProtocolGRPC
			t.insecure = u.Scheme == "grpc"
		default:
			return target{}, fmt.Errorf("OTLP endpoint %q: scheme %q: want http, https, grpc or grpcs", raw, u.Scheme)
		}
		t.path = u.Path
	}
	if t.protocol == ProtocolHTTP && (t.path == "" || t.path == "/") {
		// As for OTEL_EXPORTER_OTLP_ENDPOINT: a base URL gets the traces path.
		t.path = "/v1/traces"
	}
	return t, nil
}

// Exporter is an OTLP trace exporter.
type Exporter struct {
	exp sdktrace.SpanExporter
	// Description names the endpoint and protocol, for messages.
	Description string
}

// NewExporter makes an exporter for e. Headers, certificates, compression
// and timeouts come from the standard OTEL_EXPORTER_OTLP_* variables, which
// the exporters read themselves; the endpoint and protocol come from e.
// Nothing is sent until Send.
func NewExporter(ctx context.Context, e Endpoint) (*Exporter, error) {
	t, err := e.parse()
	if err != nil {
		return nil, err
	}
	// A collector that is down fails the command within seconds, not after
	// the exporters' default minute of retries.
	var exp sdktrace.SpanExporter
	switch t.protocol {
	case ProtocolGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(t.hostPort),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond,
				MaxInterval: 2 * time.Second, MaxElapsedTime: 10 * time.Second})}
		if t.insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	default:
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(t.hostPort), otlptracehttp.WithURLPath(t.path),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond,
				MaxInterval: 2 * time.Second, MaxElapsedTime: 10 * time.Second})}
		if t.insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	scheme := "https"
	if t.insecure {
		scheme = "http"
	}
	return &Exporter{exp: exp, Description: fmt.Sprintf("%s://%s%s (%s)", scheme, t.hostPort, t.path, t.protocol)}, nil
}

// Close shuts the exporter down.
func (x *Exporter) Close(ctx context.Context) error { return x.exp.Shutdown(ctx) }

// Build is a build to send and what is known about it besides its model.
type Build struct {
	Build *model.Build
	// Meta is what the history knows (or would file the build under):
	// project, branch, commit, CI run, runner, start time, content hash.
	Meta store.Meta
	// ID is the build's id in the history; 0 when it is not stored.
	ID int64
	// Explanation of the build, for Dockerfile lines and step states; nil
	// makes one without a Dockerfile.
	Explanation *report.Explanation
	// Pipeline is the CI pipeline the build ran in, where the environment
	// that sends it is that pipeline's (see PipelineFromEnv).
	Pipeline Pipeline
}

// Pipeline names the CI pipeline and run a build belongs to, for the
// cicd.* semantic-convention attributes.
type Pipeline struct {
	Name  string // cicd.pipeline.name: the workflow or pipeline
	RunID string // cicd.pipeline.run.id
}

// PipelineFromEnv reads the pipeline's name and run id from the CI's
// variables (GitHub Actions, GitLab CI, Buildkite, CircleCI, Jenkins).
func PipelineFromEnv(getenv func(string) string) Pipeline {
	e := getenv
	switch {
	case e("GITHUB_ACTIONS") == "true":
		return Pipeline{Name: e("GITHUB_WORKFLOW"), RunID: e("GITHUB_RUN_ID")}
	case e("GITLAB_CI") == "true":
		return Pipeline{Name: first(e("CI_PIPELINE_NAME"), e("CI_PROJECT_PATH")), RunID: e("CI_PIPELINE_ID")}
	case e("BUILDKITE") == "true":
		return Pipeline{Name: e("BUILDKITE_PIPELINE_SLUG"), RunID: e("BUILDKITE_BUILD_ID")}
	case e("CIRCLECI") == "true":
		return Pipeline{Name: e("CIRCLE_PROJECT_REPONAME"), RunID: e("CIRCLE_WORKFLOW_ID")}
	case e("JENKINS_URL") != "" || e("JENKINS_HOME") != "":
		return Pipeline{Name: e("JOB_NAME"), RunID: e("BUILD_NUMBER")}
	}
	return Pipeline{}
}

func first(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}

// Sent says what Send sent of one build.
type Sent struct {
	TraceID string
	Spans   int
}

// Send sends each build as one trace, in one export, and returns what was
// sent, in order. The error is the endpoint's, if it refused or was not
// there.
func (x *Exporter) Send(ctx context.Context, builds []Build, res *resource.Resource) ([]Sent, error) {
	col := &collector{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(col), sdktrace.WithIDGenerator(fixedIDs{}),
		sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithResource(res),
		// A build of thousands of vertices keeps every attribute.
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{AttributeCountLimit: -1, AttributeValueLengthLimit: -1,
			EventCountLimit: -1, LinkCountLimit: -1, AttributePerEventCountLimit: -1, AttributePerLinkCountLimit: -1}))
	tracer := tp.Tracer("github.com/buildstats/buildstats/report/otlp")
	var out []Sent
	for _, b := range builds {
		n := col.n()
		id := record(tracer, b)
		out = append(out, Sent{TraceID: id.String(), Spans: col.n() - n})
	}
	if err := x.exp.ExportSpans(ctx, col.spans); err != nil {
		return nil, fmt.Errorf("sending to %s: %w", x.Description, err)
	}
	return out, nil
}

// Resource describes the sender: service.name "buildstats" unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
func Resource(ctx context.Context, version string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{semconv.ServiceName("buildstats")}
	if version != "" {
		attrs = append(attrs, semconv.ServiceVersion(version))
	}
	// WithFromEnv last: the environment wins.
	return resource.New(ctx, resource.WithAttributes(attrs...), resource.WithFromEnv())
}

// collector keeps the ended spans for one export, so that a refusal is an
// error Send returns rather than a line a background batcher logs.
type collector struct{ spans []sdktrace.ReadOnlySpan }

func (c *collector) n() int                                          { return len(c.spans) }
func (c *collector) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *collector) OnEnd(s sdktrace.ReadOnlySpan)                   { c.spans = append(c.spans, s) }
func (c *collector) Shutdown(context.Context) error                  { return nil }
func (c *collector) ForceFlush(context.Context) error                { return nil }

// fixedIDs gives each span the ids the context carries, so ids derive from
// the build rather than from a random source.
type fixedIDs struct{}

type idsKey struct{}

type ids struct {
	trace trace.TraceID
	span  trace.SpanID
}

func (fixedIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	i, _ := ctx.Value(idsKey{}).(ids)
	return i.trace, i.span
}

func (fixedIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	i, _ := ctx.Value(idsKey{}).(ids)
	return i.span
}

// TraceID is the trace id a build with the content hash gets: the first 16
// bytes of SHA-256 over a fixed prefix and the hash.
func TraceID(contentHash string) trace.TraceID {
	sum := sha256.Sum256([]byte("buildstats trace\x00" + contentHash))
	var id trace.TraceID
	copy(id[:], sum[:16])
	return id
}

// spanID is the id of the span key names within the trace; a zero id is
// invalid, so one is never returned.
func spanID(contentHash, key string) trace.SpanID {
	sum := sha256.Sum256([]byte("buildstats span\x00" + contentHash + "\x00" + key))
	var id trace.SpanID
	copy(id[:], sum[:8])
	if !id.IsValid() {
		id[7] = 1
	}
	return id
}

// Attribute keys of buildstats' own (the cicd.* and vcs.* ones are the
// semantic conventions').
const (
	KeyTimesKnown        = attribute.Key("buildstats.times_known")
	KeyDurationNS        = attribute.Key("buildstats.duration_ns")
	KeyDurationLowerBnd  = attribute.Key("buildstats.duration_is_lower_bound")
	KeyBuildID           = attribute.Key("buildstats.build.id")
	KeyBuildStatus       = attribute.Key("buildstats.build.status")
	KeyBuildFormat       = attribute.Key("buildstats.build.format")
	KeyBuildSource       = attribute.Key("buildstats.build.source")
	KeyBuildBuilder      = attribute.Key("buildstats.build.builder")
	KeyBuildHash         = attribute.Key("buildstats.build.content_hash")
	KeyBuildStartSource  = attribute.Key("buildstats.build.started_source")
	KeyBuildImages       = attribute.Key("buildstats.build.image_names")
	KeyBuildTruncated    = attribute.Key("buildstats.build.truncated")
	KeyProject           = attribute.Key("buildstats.project")
	KeyCIProvider        = attribute.Key("buildstats.ci.provider")
	KeyVertexID          = attribute.Key("buildstats.vertex.id")
	KeyVertexDigest      = attribute.Key("buildstats.vertex.digest")
	KeyVertexKind        = attribute.Key("buildstats.vertex.kind")
	KeyVertexActivity    = attribute.Key("buildstats.vertex.activity")
	KeyVertexState       = attribute.Key("buildstats.vertex.state")
	KeyVertexCached      = attribute.Key("buildstats.vertex.cached")
	KeyVertexStage       = attribute.Key("buildstats.vertex.stage")
	KeyVertexPlatform    = attribute.Key("buildstats.vertex.platform")
	KeyVertexInstruction = attribute.Key("buildstats.vertex.instruction")
	KeyVertexIndex       = attribute.Key("buildstats.vertex.index")
	KeyVertexExitCode    = attribute.Key("buildstats.vertex.exit_code")
	KeyVertexLayerBytes  = attribute.Key("buildstats.vertex.layer_bytes")
	// KeyDockerfileLine is code.line.number of the Dockerfile
	// (code.file.path), where the build's Dockerfile places the step.
	KeyDockerfileLine = semconv.CodeLineNumberKey
	KeyDockerfilePath = semconv.CodeFilePathKey
)

// record makes b's spans with tracer and returns its trace id.
func record(tracer trace.Tracer, sb Build) trace.TraceID {
	b := sb.Build
	hash := sb.Meta.ContentHash
	if hash == "" {
		hash = store.BuildHash(b)
	}
	tid := TraceID(hash)
	e := sb.Explanation
	if e == nil {
		e = report.Explain(b, report.Options{})
	}

	// The build's times: its own, else the start the history has (the
	// log's, a flag's, the file's) with the stated duration.
	start, end, known := b.Started, b.Completed, !b.Started.IsZero()
	if start.IsZero() {
		start = sb.Meta.Started
	}
	if end.IsZero() && !start.IsZero() {
		if d, basis := b.WallTime(); basis == model.WallTimeLog || basis == model.WallTimeTimestamps {
			end = start.Add(d)
		} else {
			end = start
		}
	}
	if start.IsZero() {
		// Nothing says when: the span is at the epoch, zero-length, and
		// says so, rather than at the time of sending.
		start, end = time.Unix(0, 0), time.Unix(0, 0)
	}
	end = later(start, end)

	attrs := buildAttrs(sb, hash, known)
	ctx := context.WithValue(context.Background(), idsKey{}, ids{trace: tid, span: spanID(hash, "build")})
	name := "docker build"
	if sb.Meta.Project != "" {
		name += " " + safe.Inline(sb.Meta.Project)
	}
	ctx, root := tracer.Start(ctx, name, trace.WithTimestamp(start), trace.WithAttributes(attrs...),
		trace.WithSpanKind(trace.SpanKindInternal))
	switch b.Status {
	case model.StatusFailed:
		msg := safe.Inline(b.Error)
		if msg == "" {
			msg = "build failed"
		}
		root.SetStatus(codes.Error, msg)
	case model.StatusSucceeded:
		root.SetStatus(codes.Ok, "")
	}

	for i, v := range b.Vertices {
		var step *report.Step
		if i < len(e.Steps) && e.Steps[i].Name == v.Name {
			step = &e.Steps[i]
		}
		vertexSpan(ctx, tracer, tid, hash, start, v, step, sb.Meta)
	}
	root.End(trace.WithTimestamp(end))
	return tid
}

func buildAttrs(sb Build, hash string, known bool) []attribute.KeyValue {
	b, m := sb.Build, sb.Meta
	a := []attribute.KeyValue{
		KeyTimesKnown.Bool(known),
		KeyBuildStatus.String(string(b.Status)),
		KeyBuildHash.String(hash),
	}
	if b.Format != "" {
		a = append(a, KeyBuildFormat.String(string(b.Format)))
	}
	if !known && m.StartedSource != "" {
		a = append(a, KeyBuildStartSource.String(m.StartedSource))
	}
	if d, basis := b.WallTime(); basis != "" && basis != model.WallTimeSum {
		a = append(a, KeyDurationNS.Int64(int64(d)))
		if b.DurationIsLowerBound {
			a = append(a, KeyDurationLowerBnd.Bool(true))
		}
	}
	str := func(k attribute.Key, v string) {
		if v != "" {
			a = append(a, k.String(safe.Inline(v)))
		}
	}
	if sb.ID > 0 {
		a = append(a, KeyBuildID.Int64(sb.ID))
	}
	str(KeyBuildSource, b.Source)
	str(KeyBuildBuilder, b.Builder)
	if b.Truncated || b.BeganMidBuild {
		a = append(a, KeyBuildTruncated.Bool(true))
	}
	if len(b.ImageNames) > 0 {
		names := make([]string, len(b.ImageNames))
		for i, n := range b.ImageNames {
			names[i] = safe.Inline(n)
		}
		a = append(a, KeyBuildImages.StringSlice(names))
	}
	str(KeyProject, m.Project)
	str(KeyCIProvider, m.CIProvider)
	str(semconv.CICDPipelineNameKey, sb.Pipeline.Name)
	str(semconv.CICDPipelineRunIDKey, sb.Pipeline.RunID)
	str(semconv.CICDPipelineRunURLFullKey, m.RunURL)
	str(semconv.CICDWorkerNameKey, m.Runner)
	str(semconv.VCSRefHeadNameKey, m.Branch)
	if m.Branch != "" {
		a = append(a, semconv.VCSRefHeadTypeBranch)
	}
	str(semconv.VCSRefHeadRevisionKey, m.Commit)
	str(KeyDockerfilePath, m.Dockerfile)
	if b.Status == model.StatusFailed {
		a = append(a, semconv.CICDPipelineTaskRunResultFailure)
	} else if b.Status == model.StatusSucceeded {
		a = append(a, semconv.CICDPipelineTaskRunResultSuccess)
	}
	return a
}

// vertexSpan records one vertex under the build's span (parent), which
// starts at buildStart.
func vertexSpan(parent context.Context, tracer trace.Tracer, tid trace.TraceID, hash string, buildStart time.Time,
	v *model.Vertex, step *report.Step, m store.Meta) {
	key := "vertex\x00" + v.ID
	if v.ID == "" {
		key = "vertex-name\x00" + v.Name
	}
	ctx := context.WithValue(parent, idsKey{}, ids{trace: tid, span: spanID(hash, key)})

	start, end, known := v.Started, v.Ended, !v.Started.IsZero()
	if !known {
		start, end = buildStart, buildStart
	} else if end.IsZero() {
		// Started and not seen to end: the stated duration is how long it
		// ran, at least; without one the span is zero-length.
		end = start
		if v.HasDuration {
			end = start.Add(v.Duration)
		}
	}
	end = later(start, end)

	state := v.State()
	a := []attribute.KeyValue{
		KeyTimesKnown.Bool(known),
		KeyVertexCached.Bool(v.Cached),
		KeyVertexState.String(string(state)),
		KeyVertexKind.String(string(v.Kind())),
		KeyVertexActivity.String(string(v.Activity())),
	}
	if !known || v.Ended.IsZero() {
		// The span's length does not say; the log's stated time does.
		if v.HasDuration {
			a = append(a, KeyDurationNS.Int64(int64(v.Duration)))
		}
	} else if v.HasDuration {
		// Merged intervals: can be less than end - start.
		a = append(a, KeyDurationNS.Int64(int64(v.Duration)))
	}
	if v.DurationIsLowerBound {
		a = append(a, KeyDurationLowerBnd.Bool(true))
	}
	str := func(k attribute.Key, s string) {
		if s != "" {
			a = append(a, k.String(safe.Inline(s)))
		}
	}
	str(KeyVertexID, v.ID)
	str(KeyVertexDigest, v.Digest)
	str(KeyVertexStage, v.Stage)
	str(KeyVertexPlatform, v.Platform)
	str(KeyVertexInstruction, v.Instruction)
	if v.IsStep() {
		a = append(a, KeyVertexIndex.Int(v.Index))
	}
	if v.ExitCode != 0 {
		a = append(a, KeyVertexExitCode.Int(v.ExitCode))
	}
	if v.HasLayerBytes {
		a = append(a, KeyVertexLayerBytes.Int64(v.LayerBytes))
	}
	if step != nil && step.Line != nil {
		a = append(a, KeyDockerfileLine.Int(*step.Line))
		str(KeyDockerfilePath, m.Dockerfile)
	}
	name := safe.Inline(v.Name)
	if name == "" {
		name = "vertex " + strconv.Quote(v.ID)
	}
	_, span := tracer.Start(ctx, name, trace.WithTimestamp(start), trace.WithAttributes(a...))
	// Cancelled and unfinished vertices keep the unset status: they did
	// not fail themselves (buildstats.vertex.state says what they are).
	switch state {
	case model.StateError:
		span.SetStatus(codes.Error, safe.Inline(v.Error))
	case model.StateDone, model.StateCached:
		span.SetStatus(codes.Ok, "")
	}
	span.End(trace.WithTimestamp(end))
}

// later is end, or start when end is before it.
func later(start, end time.Time) time.Time {
	if end.Before(start) {
		return start
	}
	return end
}
