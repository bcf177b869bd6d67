// Package buildrecord reads BuildKit's build history records without
// BuildKit's client: the record as JSON (what `docker buildx history
// export` writes into a .dockerbuild file), its progress stream (the
// length-prefixed protobuf blob BuildKit stores, decoded by hand into
// parse.SolveStatus), and the inputs a record and its provenance
// attestation state (frontend attributes, build args, the Dockerfile's
// text, resolved base images). collect/buildkit's history import and
// collect/dockerbuild share it, so an imported build and the same build
// read from a .dockerbuild file have the same inputs.
//
// Records are hostile input: every size is bounded, every length checked.
package buildrecord

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// Media types of the blobs of a record.
const (
	MediaTypeRecord     = "application/vnd.buildkit.historyrecord.v0"
	MediaTypeStatus     = "application/vnd.buildkit.status.v0"
	MediaTypeInToto     = "application/vnd.in-toto+json"
	PredicateProvenance = "https://slsa.dev/provenance/v1"
)

// Record mirrors the JSON of BuildKit's controlapi.BuildHistoryRecord, as
// buildx writes it into a .dockerbuild file.
type Record struct {
	Ref              string                 `json:"Ref"`
	Frontend         string                 `json:"Frontend,omitempty"`
	FrontendAttrs    map[string]string      `json:"FrontendAttrs,omitempty"`
	Error            *Status                `json:"error,omitempty"`
	CreatedAt        *Timestamp             `json:"CreatedAt,omitempty"`
	CompletedAt      *Timestamp             `json:"CompletedAt,omitempty"`
	Logs             *Descriptor            `json:"logs,omitempty"`
	ExporterResponse map[string]string      `json:"ExporterResponse,omitempty"`
	Result           *ResultInfo            `json:"Result,omitempty"`
	Results          map[string]*ResultInfo `json:"Results,omitempty"`
	Trace            *Descriptor            `json:"trace,omitempty"`
	NumCachedSteps   int32                  `json:"numCachedSteps,omitempty"`
	NumTotalSteps    int32                  `json:"numTotalSteps,omitempty"`
	ExternalError    *Descriptor            `json:"externalError,omitempty"`
}

// Status mirrors google.rpc.Status.
type Status struct {
	Code    int32  `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Timestamp mirrors google.protobuf.Timestamp as encoding/json writes it.
type Timestamp struct {
	Seconds int64 `json:"seconds,omitempty"`
	Nanos   int32 `json:"nanos,omitempty"`
}

// Time is the timestamp as a UTC time; zero for nil.
func (t *Timestamp) Time() time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Unix(t.Seconds, int64(t.Nanos)).UTC()
}

// Descriptor mirrors controlapi.Descriptor.
type Descriptor struct {
	MediaType   string            `json:"media_type,omitempty"`
	Digest      string            `json:"digest,omitempty"`
	Size        int64             `json:"size,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ResultInfo mirrors controlapi.BuildResultInfo.
type ResultInfo struct {
	Attestations []*Descriptor `json:"Attestations,omitempty"`
}

// Provenance returns the descriptor of the record's SLSA provenance
// attestation, if it has one.
func (r *Record) Provenance() *Descriptor {
	var all []*ResultInfo
	if r.Result != nil {
		all = append(all, r.Result)
	}
	for _, ri := range r.Results {
		if ri != nil {
			all = append(all, ri)
		}
	}
	for _, ri := range all {
		for _, d := range ri.Attestations {
			if d != nil && d.MediaType == MediaTypeInToto && d.Annotations["in-toto.io/predicate-type"] == PredicateProvenance {
				return d
			}
		}
	}
	return nil
}

// ContentHash is the store content hash of the build with the given
// history ref. Live builds, history imports and .dockerbuild files use it
// alike, so one build is stored once however it arrives.
func ContentHash(ref string) string {
	sum := sha256.Sum256([]byte("buildkit-ref:" + ref))
	return "buildkit-sha256:" + hex.EncodeToString(sum[:])
}

// gRPC status codes the record's error may carry.
const (
	codeOK       = 0
	codeCanceled = 1
)

// Apply takes from the record what the progress stream does not say: the
// outcome, the error, the times and the exported image. It is what
// collect/buildkit's import does with a record it got over gRPC, minus the
// typed error details only BuildKit's client can decode.
func Apply(b *model.Build, r *Record) {
	if b.Started.IsZero() && r.CreatedAt != nil && r.CompletedAt != nil {
		b.Started, b.Completed = r.CreatedAt.Time(), r.CompletedAt.Time()
		if d := b.Completed.Sub(b.Started); d > 0 {
			b.Duration, b.HasDuration = d, true
		}
	}
	switch {
	case r.Error != nil && r.Error.Code == codeCanceled:
		b.Status = model.StatusCanceled
		if b.Error == "" {
			b.Error = "build cancelled: " + r.Error.Message
		}
		for _, v := range b.Vertices {
			if !v.Completed {
				v.Canceled, v.Completed = true, true
			}
		}
	case r.Error != nil && r.Error.Code != codeOK:
		b.Status = model.StatusFailed
		if b.Error == "" {
			// buildctl wraps the solve error the same way.
			b.Error = "failed to solve: " + r.Error.Message
		}
	default:
		b.Status = model.StatusSucceeded
		if b.ImageID == "" {
			b.ImageID = r.ExporterResponse["containerimage.config.digest"]
		}
		if len(b.ImageNames) == 0 && r.ExporterResponse["image.name"] != "" {
			for _, n := range strings.Split(r.ExporterResponse["image.name"], ",") {
				if n = strings.TrimSpace(n); n != "" {
					b.ImageNames = append(b.ImageNames, n)
				}
			}
		}
	}
}
