// Package tracecmd is the trace command: a build sent to OpenTelemetry as a
// trace over OTLP. It links the OpenTelemetry SDK and exporters, so only
// buildstats-live has it; it also gives buildstats-live's other commands
// their --otlp (NewSender).
package tracecmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/report/otlp"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are trace's flags and argument.
type Options struct {
	Input       string // a log path, "-", or a build reference
	OTLP        cli.TraceFlags
	InputFormat *cli.Enum
	DB          string
	Project     string
	AllProjects bool
	Dockerfile  string
	Build       int // which build of a log of several; 0 for the last
}

// New returns the trace command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "trace BUILD|LOG --otlp ENDPOINT",
		Short: "Send a build to OpenTelemetry as a trace (OTLP)",
		Long: `Trace sends one build as an OpenTelemetry trace to an OTLP endpoint (an
OpenTelemetry Collector, Jaeger, Tempo, Honeycomb...): a span for the build
and, under it, a span for each vertex, with its real start and end where the
build recorded them (rawjson logs, live and imported builds). A text log
(tty, plain, legacy) has durations but no clock times: its spans are
zero-length at the build's start, buildstats.times_known is false and
buildstats.duration_ns holds the duration the log states.

BUILD is a stored build, as show takes it (an id, "latest", "previous",
"latest~N", a content hash prefix); a file or "-" is read as a log, as
explain reads it. The trace id is derived from the build's content hash:
sending the same build again gives the same trace.

ENDPOINT is http://host:4318 or https://host:4318[/path] for HTTP/protobuf
(the path defaults to /v1/traces), grpc://host:4317 (plaintext) or
grpcs://host:4317 for gRPC, or host:port for gRPC over TLS (--otlp-insecure
for plaintext). --otlp-protocol grpc makes an http(s):// URL a gRPC one.
Without --otlp, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
OTEL_EXPORTER_OTLP_ENDPOINT is used; OTEL_EXPORTER_OTLP_PROTOCOL,
OTEL_EXPORTER_OTLP_HEADERS (authentication), OTEL_EXPORTER_OTLP_CERTIFICATE,
OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_EXPORTER_OTLP_TIMEOUT,
OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are honoured.

Step names and errors are masked as every command masks them (--no-mask to
send them as they are).`,
		Example: `  buildstats trace latest --otlp http://localhost:4318
  buildstats trace build.jsonl --otlp grpc://otel-collector:4317
  OTEL_EXPORTER_OTLP_ENDPOINT=https://api.honeycomb.io:443 \
  OTEL_EXPORTER_OTLP_HEADERS=x-honeycomb-team=$KEY buildstats trace 42`,
		Args: cli.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Input = args[0]
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.InputFormat = cli.AddInputFormatFlag(cmd)
	cli.AddDBFlag(cmd, &opts.DB)
	cli.AddRefScopeFlags(cmd, &opts.Project, &opts.AllProjects)
	opts.OTLP.Register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&opts.Dockerfile, "dockerfile", "", "the Dockerfile that was built, for the steps' lines (default the one the build recorded)")
	fl.IntVar(&opts.Build, "build", 0, "which build to send when the log holds several (1 is the first; default the last)")
	return cmd
}

// Run sends the build opts.Input.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	flags := opts.OTLP.FromEnv(f, true)
	if flags.Endpoint == "" {
		return cli.UsageError(errors.New("no OTLP endpoint: give --otlp ENDPOINT or set OTEL_EXPORTER_OTLP_ENDPOINT"))
	}
	var df *dockerfile.File
	if opts.Dockerfile != "" {
		var err error
		if df, err = dockerfile.ParseFile(opts.Dockerfile); err != nil {
			return cli.UsageError(fmt.Errorf("reading Dockerfile: %w", err))
		}
	}
	// The endpoint is checked before anything is read.
	sender, err := NewSender(ctx, f, flags)
	if err != nil {
		return err
	}
	defer sender.Close(context.Background())

	var tb cli.TraceBuild
	if cli.NamesLog(opts.Input) {
		l, err := f.ReadLog(opts.Input, opts.InputFormat.Value)
		if err != nil {
			return err
		}
		b, err := l.Pick(opts.Build)
		if err != nil {
			return cli.UsageError(err)
		}
		meta := f.DetectMeta("", store.Meta{Project: opts.Project})
		meta.ContentHash, meta.Source = l.BuildHash(b), l.Name
		meta.Started, meta.StartedSource = store.StartTime(b, time.Time{}, l.ModTime)
		if meta.Started.IsZero() {
			// Standard input has no file time: as ingest files such a
			// build at the time of ingest, it is sent at the time sent,
			// and buildstats.build.started_source says so.
			meta.Started, meta.StartedSource = f.Clock(), "sent"
		}
		meta.Dockerfile = opts.Dockerfile
		tb = cli.TraceBuild{Build: b, Meta: meta, Dockerfile: df, ThisRun: true}
		tb.ID = storedID(ctx, f, opts.DB, meta.ContentHash)
	} else {
		if tb, err = stored(ctx, f, opts); err != nil {
			return err
		}
		tb.Dockerfile = df
	}
	return f.SendTraces(ctx, sender, f.IO.Out, []cli.TraceBuild{tb})
}

// storedID is the id the history has a log's build under, 0 when none has
// it or there is no history (only a bonus: no error).
func storedID(ctx context.Context, f *cli.Factory, db, hash string) int64 {
	if !f.HistoryMayExist(db) {
		return 0
	}
	s, err := f.OpenHistory(ctx, db, backend.Read)
	if err != nil {
		return 0
	}
	defer s.Close()
	id, err := s.Resolve(ctx, hash, "")
	if err != nil {
		return 0
	}
	return id
}

// stored loads a build from the history by reference.
func stored(ctx context.Context, f *cli.Factory, opts Options) (cli.TraceBuild, error) {
	b, meta, id, s, err := f.StoredBuild(ctx, opts.DB, opts.Input, opts.Project, opts.AllProjects)
	if err != nil {
		return cli.TraceBuild{}, err
	}
	s.Close()
	return cli.TraceBuild{Build: b, Meta: meta, ID: id}, nil
}

// sender is a cli.TraceSender over an OTLP exporter.
type sender struct {
	f   *cli.Factory
	x   *otlp.Exporter
	res *resource.Resource
}

// NewSender opens a sender to the flags' endpoint: an unusable endpoint
// is a usage error, before anything is read or stored. buildstats-live
// sets it as the Factory's NewTraceSender.
func NewSender(ctx context.Context, f *cli.Factory, o cli.TraceFlags) (cli.TraceSender, error) {
	x, err := otlp.NewExporter(ctx, otlp.Endpoint{URL: o.Endpoint, Protocol: o.Protocol, Insecure: o.Insecure})
	if err != nil {
		return nil, cli.UsageError(err)
	}
	res, err := otlp.Resource(ctx, f.Version)
	if err != nil {
		x.Close(ctx)
		return nil, cli.UsageError(err)
	}
	return &sender{f: f, x: x, res: res}, nil
}

// sendTimeout bounds one export: a collector that is down fails the
// command, it does not hang it.
const sendTimeout = 30 * time.Second

func (s *sender) Send(ctx context.Context, builds []cli.TraceBuild) ([]cli.TraceSent, error) {
	mask := s.f.Redactor()
	var in []otlp.Build
	for _, tb := range builds {
		m := tb.Meta
		for _, p := range []*string{&m.Project, &m.Branch, &m.Commit, &m.RunURL, &m.Runner, &m.Dockerfile, &m.Source} {
			*p = mask.String(*p)
		}
		df := tb.Dockerfile
		if df == nil && tb.Build.Inputs != nil && tb.Build.Inputs.Dockerfile != nil && tb.Build.Inputs.Dockerfile.Content != "" {
			// The Dockerfile the build recorded places its steps.
			d := tb.Build.Inputs.Dockerfile
			if parsed, err := dockerfile.Parse(strings.NewReader(d.Content), d.Name); err == nil {
				df = parsed
				if m.Dockerfile == "" {
					m.Dockerfile = mask.String(d.Name)
				}
			}
		}
		var pipeline otlp.Pipeline
		if tb.ThisRun {
			pipeline = otlp.PipelineFromEnv(s.f.Env)
			pipeline.Name, pipeline.RunID = mask.String(pipeline.Name), mask.String(pipeline.RunID)
		}
		in = append(in, otlp.Build{Build: tb.Build, Meta: m, ID: tb.ID, Pipeline: pipeline,
			Explanation: report.Explain(tb.Build, report.Options{Dockerfile: df})})
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	sent, err := s.x.Send(ctx, in, s.res)
	if err != nil {
		return nil, cli.UsageError(err)
	}
	out := make([]cli.TraceSent, len(sent))
	for i, r := range sent {
		out[i] = cli.TraceSent{TraceID: r.TraceID, Spans: r.Spans, Endpoint: s.x.Description}
	}
	return out, nil
}

func (s *sender) Close(ctx context.Context) error { return s.x.Close(ctx) }
