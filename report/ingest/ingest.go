// Package ingest stores a parsed build log in a history the way every
// writer does: the ingest command, and the server CI runners send logs
// to. A build is masked, completed with its inputs, compared with the
// project's build before it to name why its cache broke, and stored once
// (by the log's content hash).
package ingest

import (
	"context"
	"time"

	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/store"
)

// Options say what is known of a log's builds beyond the log.
type Options struct {
	// Meta files the builds (project, branch, commit, CI run); its
	// content hash, source and start time are set per build.
	Meta store.Meta
	// FlagTime is the start time of a build whose log has none (--time);
	// FileTime, the log file's modification time, comes next.
	FlagTime, FileTime time.Time
	// Now is the start time of last resort, and the clock.
	Now func() time.Time
	// KeepLogs stores step output (see store.IngestOptions).
	KeepLogs bool
	// Given are the inputs the caller knows (flags); what the log shows
	// wins over them.
	Given *model.Inputs
	// Dockerfile, when known, names the instruction behind a cache break.
	Dockerfile *dockerfile.File
	// Mask masks secrets in the inputs and the baseline; the build itself
	// must be masked by the caller before (see Log). Nil masks nothing.
	Mask *redact.Redactor
	// Warn reports what went wrong without stopping the ingest (causes
	// that could not be named); nil drops it.
	Warn func(format string, args ...any)
}

// Mask masks secrets in every build of l, before anything shows or stores
// them; the hash stays the bytes' own, so the log is still recognised.
func Mask(l *logfile.Log, mask *redact.Redactor) {
	if mask == nil {
		return
	}
	for _, b := range l.Builds {
		mask.Build(b)
	}
}

// One stores build b of the log l in s, with its inputs and the causes of
// its cache breaks. It returns the build's id and whether it was new.
func One(ctx context.Context, s store.Store, l *logfile.Log, b *model.Build, o Options) (int64, bool, error) {
	it, err := Prepare(ctx, s, l, b, o)
	if err != nil {
		return 0, false, err
	}
	return s.Ingest(ctx, it.Build, it.Meta, it.Options)
}

// Prepare is One up to storing: the build with its inputs, its metadata
// and the causes of its cache breaks against the build before it in s, as
// an item for IngestBatch (a server stores concurrent requests in one
// transaction).
func Prepare(ctx context.Context, s store.Reader, l *logfile.Log, b *model.Build, o Options) (store.BatchItem, error) {
	m := o.Meta
	m.ContentHash, m.Source = l.BuildHash(b), l.Name
	if l.IsStdin() {
		m.Source = "-"
	}
	m.Started, m.StartedSource = store.StartTime(b, o.FlagTime, o.FileTime)
	if m.Started.IsZero() {
		now := time.Now
		if o.Now != nil {
			now = o.Now
		}
		m.Started, m.StartedSource = now(), "ingest"
	}
	WithInputs(b, o.Given, o.Mask)
	causes, err := breakCauses(ctx, s, m, b, o)
	if err != nil {
		if store.IsDatabaseError(err) {
			return store.BatchItem{}, err
		}
		// The build is still worth storing; misses --by-cause will not
		// count its breaks.
		if o.Warn != nil {
			o.Warn("the causes of %s's cache breaks were not named: %v", l.Name, err)
		}
	}
	return store.BatchItem{Build: b, Meta: m, Options: store.IngestOptions{KeepLogs: o.KeepLogs, Causes: causes}}, nil
}

// WithInputs completes b's inputs with what its log shows, then with
// those given: what a collector recorded, then the log, win over flags,
// as they show what was built. What they hold as text is masked.
func WithInputs(b *model.Build, given *model.Inputs, mask *redact.Redactor) {
	in := b.Inputs
	if in == nil {
		in = &model.Inputs{}
	}
	in.Merge(parse.LogInputs(b))
	in.Merge(given)
	if in.IsEmpty() {
		in = nil
	}
	if mask != nil {
		mask.Inputs(in)
	}
	b.Inputs = in
}

// breakCauses names why the build's cache broke, against the project's
// latest stored build before it, for misses --by-cause. The baseline is
// masked as the build is, so their steps match.
func breakCauses(ctx context.Context, s store.Reader, m store.Meta, b *model.Build, o Options) ([]store.BreakCause, error) {
	started := m.Started
	if !b.Started.IsZero() {
		started = b.Started
	}
	base, err := report.BaselineOfLog(ctx, s, m.Project, started)
	if err != nil {
		return nil, err
	}
	if base != nil && o.Mask != nil {
		o.Mask.Build(base.Build)
	}
	return report.BreakCauses(report.Explain(b, report.Options{Dockerfile: o.Dockerfile, Baseline: base})), nil
}
