package buildkit

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/buildstats/buildstats/collect"
	"github.com/buildstats/buildstats/collect/buildrecord"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/content/proxy"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/grpcerrors"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// ContentHash is the store content hash of the build with the given history
// ref. Live builds and imports use it alike, so importing a build that
// `buildstats build` already stored, or importing twice, adds nothing.
func ContentHash(ref string) string { return buildrecord.ContentHash(ref) }

// ImportOptions control Import.
type ImportOptions struct {
	// Follow keeps listening for builds that complete after the existing
	// ones were imported, until ctx ends.
	Follow bool
	// Skip, when set, reports refs that are already stored; their progress
	// is not replayed.
	Skip func(ref string) bool
	// KeepLogs records each build's whole log (Imported.Log).
	KeepLogs bool
	// Builder names the daemon in each record's Builder ("buildkit " +
	// Builder); empty leaves "buildkit".
	Builder string
}

// Imported is one completed build from the daemon's history.
type Imported struct {
	Ref   string
	Build *model.Build
	// Record is the daemon's history record: frontend attributes (the
	// Dockerfile name, build args), exporter response, step counts.
	Record *controlapi.BuildHistoryRecord
	// Facts are the request the record and its provenance describe.
	Facts *store.BuildFacts
	// Log is the whole log, with ImportOptions.KeepLogs.
	Log *Log
}

// Import reads the daemon's build history, replays the progress of every
// completed build not skipped, and hands each record to fn in the order the
// daemon lists them. It includes builds other clients ran (buildctl, buildx
// with a remote driver). With Follow it then waits for new builds until ctx
// ends, which is not an error. An error from fn stops the import.
func Import(ctx context.Context, c *client.Client, opts ImportOptions, fn func(Imported) error) error {
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: !opts.Follow})
	if err != nil {
		return historyError(ctx, err)
	}
	seen := map[string]bool{}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if opts.Follow && ctx.Err() != nil {
				return nil
			}
			return historyError(ctx, err)
		}
		rec := ev.GetRecord()
		if ev.GetType() != controlapi.BuildHistoryEventType_COMPLETE || rec == nil || rec.GetRef() == "" {
			continue // started builds come back as COMPLETE events later
		}
		ref := rec.GetRef()
		if seen[ref] || (opts.Skip != nil && opts.Skip(ref)) {
			continue
		}
		seen[ref] = true
		var log *Log
		if opts.KeepLogs {
			log = &Log{}
		}
		b, facts, err := replay(ctx, c, rec, log)
		if err != nil {
			if opts.Follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		if opts.Builder != "" {
			b.Builder = "buildkit " + opts.Builder
		}
		if err := fn(Imported{Ref: ref, Build: b, Record: rec, Facts: facts, Log: log}); err != nil {
			return err
		}
	}
}

// Replay rebuilds the record of a completed build from its history entry:
// the daemon replays the stored progress stream through the Status call.
func Replay(ctx context.Context, c *client.Client, rec *controlapi.BuildHistoryRecord) (*model.Build, error) {
	b, _, err := replay(ctx, c, rec, nil)
	return b, err
}

// replay is Replay that also reads the request's facts and, when log is
// not nil, renders the progress as plain text into it.
func replay(ctx context.Context, c *client.Client, rec *controlapi.BuildHistoryRecord, log *Log) (*model.Build, *store.BuildFacts, error) {
	ref := rec.GetRef()
	stream, err := c.ControlClient().Status(ctx, &controlapi.StatusRequest{Ref: ref})
	if err != nil {
		return nil, nil, fmt.Errorf("replay build %s: %w", ref, historyError(ctx, err))
	}
	r := parse.NewRecorder()
	var logCh chan<- *client.SolveStatus
	logWritten := func() {}
	if log != nil {
		logCh, logWritten = logDisplay(log)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			if logCh != nil {
				close(logCh)
				logWritten()
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, fmt.Errorf("replay build %s: %w", ref, historyError(ctx, err))
		}
		st := client.NewSolveStatus(resp)
		r.Add(Convert(st))
		if logCh != nil {
			logCh <- st
		}
	}
	b := r.Build()
	b.Source = "buildkit-history"
	b.Builder = "buildkit"
	applyRecord(b, rec, externalError(ctx, c, rec))
	prov := provenance(ctx, c, rec)
	b.Inputs = recordInputs(b, rec, prov)
	facts := buildrecord.Facts(rec.GetFrontend(), rec.GetFrontendAttrs(), prov)
	for _, e := range rec.GetExporters() {
		facts.Outputs = append(facts.Outputs, e.GetType())
	}
	return b, facts, nil
}

// recordInputs is what the record says of the build's inputs (its
// frontend attributes and provenance, see buildrecord.Inputs) with the
// base images its progress stream resolved, all exact.
func recordInputs(b *model.Build, rec *controlapi.BuildHistoryRecord, prov []byte) *model.Inputs {
	in := buildrecord.Inputs(rec.GetFrontendAttrs(), prov, model.FromHistory)
	if in == nil {
		in = &model.Inputs{}
	}
	if seen := parse.LogInputs(b); seen != nil {
		for i := range seen.BaseImages {
			seen.BaseImages[i].Source = model.FromHistory
		}
		for i := range seen.CacheSources {
			seen.CacheSources[i].Source = model.FromHistory
		}
		in.Merge(seen)
	}
	if in.IsEmpty() {
		return nil
	}
	return in
}

// provenance reads the record's SLSA provenance attestation, which
// BuildKit makes for every build in its history; nil when there is none or
// it cannot be read.
func provenance(ctx context.Context, c *client.Client, rec *controlapi.BuildHistoryRecord) []byte {
	var results []*controlapi.BuildResultInfo
	if r := rec.GetResult(); r != nil {
		results = append(results, r)
	}
	for _, r := range rec.GetResults() {
		results = append(results, r)
	}
	for _, r := range results {
		for _, d := range r.GetAttestations() {
			if d.GetMediaType() != buildrecord.MediaTypeInToto || d.GetAnnotations()["in-toto.io/predicate-type"] != buildrecord.PredicateProvenance ||
				d.GetSize() > buildrecord.MaxProvenance {
				continue
			}
			store := proxy.NewContentStore(c.ContentClient())
			dt, err := content.ReadBlob(ctx, store, ocispecs.Descriptor{MediaType: d.GetMediaType(), Digest: digest.Digest(d.GetDigest()), Size: d.GetSize()})
			if err == nil {
				return dt
			}
		}
	}
	return nil
}

// externalError reads the full error of a failed build. BuildKit stores it
// as a blob when its details (the Dockerfile source of the failing step) are
// too large for the record; nil when there is none or it cannot be read, in
// which case the record's own error is used.
func externalError(ctx context.Context, c *client.Client, rec *controlapi.BuildHistoryRecord) *spb.Status {
	d := rec.GetExternalError()
	if d == nil {
		return nil
	}
	store := proxy.NewContentStore(c.ContentClient())
	dt, err := content.ReadBlob(ctx, store, ocispecs.Descriptor{MediaType: d.GetMediaType(), Digest: digest.Digest(d.GetDigest()), Size: d.GetSize()})
	if err != nil {
		return nil
	}
	var st spb.Status
	if proto.Unmarshal(dt, &st) != nil {
		return nil
	}
	return &st
}

// applyRecord takes from the history record what the progress stream does
// not say: the outcome, the error and the exported image.
func applyRecord(b *model.Build, rec *controlapi.BuildHistoryRecord, external *spb.Status) {
	if b.Started.IsZero() && rec.GetCreatedAt() != nil && rec.GetCompletedAt() != nil {
		b.Started, b.Completed = rec.GetCreatedAt().AsTime(), rec.GetCompletedAt().AsTime()
		if d := b.Completed.Sub(b.Started); d > 0 {
			b.Duration, b.HasDuration = d, true
		}
	}
	if st := rec.GetError(); st != nil && st.GetCode() != int32(codes.OK) {
		if external != nil {
			st = external
		}
		err := historyRecordError(st)
		if st.GetCode() == int32(codes.Canceled) {
			MarkCanceled(b, err)
		} else {
			// buildctl wraps the solve error the same way.
			ApplyError(b, fmt.Errorf("failed to solve: %w", err))
		}
	} else {
		b.Status = model.StatusSucceeded
		applyExporterResponse(b, rec.GetExporterResponse())
	}
}

// historyRecordError turns the record's status back into an error that
// keeps its typed details (the Dockerfile source of the failing step).
func historyRecordError(st *spb.Status) error {
	return grpcerrors.FromGRPC(status.ErrorProto(st))
}

func historyError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if grpcerrors.Code(err) == codes.Unavailable {
		return fmt.Errorf("%w: %v", collect.ErrDaemonLost, grpcMessage(err))
	}
	return errors.New(grpcMessage(err))
}
