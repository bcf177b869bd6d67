package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/store"
)

// TraceFlags are the --otlp flags of the commands that send builds as
// OpenTelemetry traces.
type TraceFlags struct {
	Endpoint string // --otlp; "" sends nothing
	Protocol string // --otlp-protocol: "grpc", "http/protobuf" or "" (from the endpoint)
	Insecure bool   // --otlp-insecure
}

// Register adds --otlp, --otlp-protocol and --otlp-insecure to cmd.
func (o *TraceFlags) Register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.Endpoint, "otlp", "", "also send each build as an OpenTelemetry trace to this OTLP endpoint "+
		"(http://host:4318 for HTTP/protobuf, grpc://host:4317 or host:port for gRPC; see buildstats trace --help)")
	fl.StringVar(&o.Protocol, "otlp-protocol", "", "OTLP protocol: grpc or http/protobuf (default from the endpoint, else $OTEL_EXPORTER_OTLP_PROTOCOL)")
	fl.BoolVar(&o.Insecure, "otlp-insecure", false, "send to a host:port OTLP endpoint in plaintext (an http:// or grpc:// endpoint always is)")
}

// FromEnv fills what the flags leave empty from the standard
// OTEL_EXPORTER_OTLP_* variables: the protocol and plaintext always, the
// endpoint only when withEndpoint (a command whose whole job is to send).
func (o TraceFlags) FromEnv(f *Factory, withEndpoint bool) TraceFlags {
	if o.Endpoint == "" && withEndpoint {
		o.Endpoint = firstEnv(f, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if o.Protocol == "" {
		o.Protocol = firstEnv(f, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if !o.Insecure {
		o.Insecure = strings.EqualFold(firstEnv(f, "OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"), "true")
	}
	return o
}

func firstEnv(f *Factory, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(f.Env(k)); v != "" {
			return v
		}
	}
	return ""
}

// TraceBuild is a build to send as a trace.
type TraceBuild struct {
	Build *model.Build
	Meta  store.Meta
	ID    int64 // in the history; 0 when not stored
	// Dockerfile places the steps on lines; nil uses the Dockerfile the
	// build recorded, if any.
	Dockerfile *dockerfile.File
	// ThisRun says the build ran in the CI run of this process's
	// environment, so the pipeline's name and run id are read from it.
	ThisRun bool
}

// TraceSender sends builds to one OTLP endpoint.
type TraceSender interface {
	// Send sends each build as a trace and says what was sent of each.
	Send(ctx context.Context, builds []TraceBuild) ([]TraceSent, error)
	Close(ctx context.Context) error
}

// TraceSent is what was sent of one build.
type TraceSent struct {
	TraceID  string
	Spans    int
	Endpoint string // URL and protocol
}

// OpenTraces opens the sender for --otlp; nil when no endpoint is given.
// An unusable endpoint is a usage error, before the build runs.
func (f *Factory) OpenTraces(ctx context.Context, o TraceFlags) (TraceSender, error) {
	if o.Endpoint == "" {
		return nil, nil
	}
	if f.NewTraceSender == nil {
		return nil, UsageError(errors.New("--otlp runs in buildstats-live: install both programs with go install ./cmd/..."))
	}
	return f.NewTraceSender(ctx, f, o.FromEnv(f, false))
}

// SendTraces sends builds with t and prints a line for each on w.
func (f *Factory) SendTraces(ctx context.Context, t TraceSender, w io.Writer, builds []TraceBuild) error {
	if t == nil || len(builds) == 0 {
		return nil
	}
	sent, err := t.Send(ctx, builds)
	if err != nil {
		return err
	}
	for i, r := range sent {
		what := "the build"
		if builds[i].ID > 0 {
			what = fmt.Sprintf("build #%d", builds[i].ID)
		}
		fmt.Fprintf(w, "%s: sent as trace %s (%d spans) to %s\n", what, r.TraceID, r.Spans, r.Endpoint)
	}
	return nil
}

// Live hooks: buildstats-live sets NewTraceSender; in buildstats, which
// does not link the OpenTelemetry SDK, it is nil and a command given --otlp
// runs in buildstats-live instead (RunLive, with Args).
type liveHooks struct {
	// NewTraceSender opens a sender for the flags' endpoint.
	NewTraceSender func(ctx context.Context, f *Factory, o TraceFlags) (TraceSender, error)
	// RunLive runs the command line args in buildstats-live.
	RunLive func(args []string) error
	// Args is the command line this process runs (without the program).
	Args []string
}
