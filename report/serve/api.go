package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	logingest "github.com/buildstats/buildstats/report/ingest"
	"github.com/buildstats/buildstats/store"
)

// errorBody is every error answer of the API: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, v); err != nil {
		code, buf = http.StatusInternalServerError, *bytes.NewBufferString(`{"error": "encoding the answer failed"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// Stored is POST /api/v1/builds' answer: the build's id (the last one's,
// for a log of several builds), every id, and the build's page.
type Stored struct {
	ID      int64   `json:"id"`
	IDs     []int64 `json:"ids"`
	Created bool    `json:"created"` // false when every build was stored before
	URL     string  `json:"url"`     // the build's page, relative to the server
}

// metaParams are the query parameters POST /api/v1/builds files a build
// under, and their longest accepted length.
const maxParam = 2048

// errTooLarge: the log is over Config.MaxBody once decompressed.
var errTooLarge = errors.New("the build log is too large")

// limitReader fails with errTooLarge past n bytes, instead of cutting the
// log short (a truncated log would be stored as a different build).
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return 0, errTooLarge
	}
	return n, err
}

// IngestRequest is what POST /api/v1/builds was asked to store: the
// metadata from the query and the log's bytes.
type IngestRequest struct {
	Meta     store.Meta
	When     time.Time
	Format   model.Format
	KeepLogs bool
}

// parseIngestQuery reads the query parameters of POST /api/v1/builds.
func parseIngestQuery(q map[string][]string, now time.Time) (IngestRequest, error) {
	var req IngestRequest
	get := func(k string) (string, error) {
		vs := q[k]
		if len(vs) == 0 {
			return "", nil
		}
		v := vs[0]
		if len(vs) > 1 {
			return "", fmt.Errorf("%s is given %d times", k, len(vs))
		}
		if len(v) > maxParam || !utf8.ValidString(v) {
			return "", fmt.Errorf("%s is longer than %d bytes or not UTF-8", k, maxParam)
		}
		return v, nil
	}
	for k, dst := range map[string]*string{"project": &req.Meta.Project, "branch": &req.Meta.Branch, "commit": &req.Meta.Commit,
		"ci_url": &req.Meta.RunURL, "ci_provider": &req.Meta.CIProvider, "runner": &req.Meta.Runner, "dockerfile": &req.Meta.Dockerfile,
		"source": &req.Meta.Source} {
		v, err := get(k)
		if err != nil {
			return req, err
		}
		*dst = v
	}
	for _, t := range q["tag"] {
		if len(t) > maxParam || !utf8.ValidString(t) || len(req.Meta.Tags) >= 64 {
			return req, errors.New("too many tags, or a tag longer than 2048 bytes or not UTF-8")
		}
		req.Meta.Tags = append(req.Meta.Tags, t)
	}
	when, err := get("time")
	if err != nil {
		return req, err
	}
	if req.When, err = report.ParseWhen(when, now); err != nil {
		return req, fmt.Errorf("time: %w", err)
	}
	format, err := get("format")
	if err != nil {
		return req, err
	}
	switch model.Format(format) {
	case "", model.FormatPlain, model.FormatTTY, model.FormatRawJSON, model.FormatLegacy:
		req.Format = model.Format(format)
	default:
		return req, fmt.Errorf("format %q is not one the parser reads (plain, tty, rawjson, legacy)", format)
	}
	keep, err := get("keep_logs")
	if err != nil {
		return req, err
	}
	if keep != "" {
		if req.KeepLogs, err = strconv.ParseBool(keep); err != nil {
			return req, fmt.Errorf("keep_logs %q is not true or false", keep)
		}
	}
	return req, nil
}

// readLog reads the body of POST /api/v1/builds: plain or gzip, at most
// max bytes once decompressed, parsed and hashed.
func readLog(body io.Reader, encoding string, max int64, format model.Format) (*logfile.Log, int, error) {
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			if isTooLarge(err) {
				return nil, http.StatusRequestEntityTooLarge, tooLargeError(max)
			}
			return nil, http.StatusBadRequest, errors.New("the body is not gzip data: " + err.Error())
		}
		defer zr.Close()
		r = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Encoding %q is not gzip", encoding)
	}
	l, err := logfile.ReadFrom(&limitReader{r: r, n: max}, "request", format)
	switch {
	case err == nil:
		return l, 0, nil
	case isTooLarge(err):
		return nil, http.StatusRequestEntityTooLarge, tooLargeError(max)
	case errors.Is(err, parse.ErrNotBuildLog):
		return nil, http.StatusUnprocessableEntity, errors.New("the body is not a build log (plain, tty, rawjson or legacy Docker build output)")
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, http.StatusBadRequest, errors.New("the gzip body is damaged or cut short")
	}
	return nil, http.StatusBadRequest, fmt.Errorf("reading the build log: %v", strings.TrimPrefix(err.Error(), "request: "))
}

func isTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.Is(err, errTooLarge) || errors.As(err, &mb)
}

func tooLargeError(max int64) error {
	return fmt.Errorf("the build log is larger than the server's limit of %s", FormatSize(max))
}

// FormatSize writes a size limit in binary units: 256 MiB.
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// postBuild is POST /api/v1/builds: store a build log sent by a CI job.
func (srv *Server) postBuild(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	srv.ingest(rec, r)
	srv.metrics.request(rec.code, time.Since(start))
}

func (srv *Server) ingest(w http.ResponseWriter, r *http.Request) {
	now := srv.cfg.Now()
	t, err := checkToken(r.Context(), srv.tokens, presented(r), now)
	if err == nil && t.Scope != store.ScopeIngest {
		err = errForbidden
	}
	if err != nil {
		srv.authError(w, err)
		return
	}
	req, err := parseIngestQuery(r.URL.Query(), now)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch req.Meta.Project {
	case "":
		req.Meta.Project = t.Project
	case t.Project:
	default:
		writeError(w, http.StatusForbidden, fmt.Sprintf("the token sends builds of project %q, not %q", t.Project, req.Meta.Project))
		return
	}
	// The raw body may be compressed: the limit on it is the same as on
	// the log, which the decompressed reader enforces too.
	body := http.MaxBytesReader(w, r.Body, srv.cfg.MaxBody)
	l, code, err := readLog(body, r.Header.Get("Content-Encoding"), srv.cfg.MaxBody, req.Format)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	if req.Meta.Source != "" {
		l.Name = req.Meta.Source
	}
	logingest.Mask(l, srv.cfg.Mask)
	// Stored whole even when the client goes away: a build is one
	// transaction, and the client retrying finds it stored.
	ctx := context.WithoutCancel(r.Context())
	items := make([]store.BatchItem, len(l.Builds))
	for i, b := range l.Builds {
		items[i], err = logingest.Prepare(ctx, srv.s, l, b, logingest.Options{Meta: req.Meta, FlagTime: req.When,
			Now: srv.cfg.Now, KeepLogs: req.KeepLogs, Mask: srv.cfg.Mask, Warn: srv.cfg.Log})
		if err != nil {
			srv.storeError(w, err)
			return
		}
	}
	res, err := srv.batch.store(items)
	if err != nil {
		srv.storeError(w, err)
		return
	}
	out := Stored{}
	for i, r := range res {
		if r.Created {
			out.Created = true
			srv.metrics.stored(req.Meta.Project, items[i].Build)
		}
		out.ID = r.ID
		out.IDs = append(out.IDs, r.ID)
	}
	out.URL = fmt.Sprintf("/builds/%d", out.ID)
	code = http.StatusOK
	if out.Created {
		code = http.StatusCreated
	}
	w.Header().Set("Location", out.URL)
	writeJSON(w, code, out)
}

// statusRecorder remembers the status code a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// readQuery is what the read endpoints and pages filter by.
type readQuery struct {
	Project, Branch, Status string
	Since, Until            time.Time
	SinceText, UntilText    string
	Limit, Page             int
	Period                  store.Period
	// Step is a step identity to follow (StepRef.StepID), 0 for none.
	Step int64
}

// Paging limits of GET /api/v1/builds and the builds page.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

func (srv *Server) parseRead(r *http.Request, defSince string) (readQuery, error) {
	q := r.URL.Query()
	rq := readQuery{Project: q.Get("project"), Branch: q.Get("branch"), Status: q.Get("status"),
		SinceText: q.Get("since"), UntilText: q.Get("until"), Limit: DefaultPageSize, Page: 1}
	for _, v := range []string{rq.Project, rq.Branch, rq.Status, rq.SinceText, rq.UntilText} {
		if len(v) > maxParam {
			return rq, errors.New("a query parameter is too long")
		}
	}
	if _, ok := q["since"]; !ok {
		rq.SinceText = defSince
	}
	now := srv.cfg.Now()
	var err error
	if rq.Since, err = report.ParseWhen(rq.SinceText, now); err != nil {
		return rq, fmt.Errorf("since: %w", err)
	}
	if rq.Until, err = report.ParseWhen(rq.UntilText, now); err != nil {
		return rq, fmt.Errorf("until: %w", err)
	}
	switch rq.Status {
	case "", string(model.StatusSucceeded), string(model.StatusFailed), string(model.StatusUnknown):
	default:
		return rq, fmt.Errorf("status %q is not succeeded, failed or unknown", rq.Status)
	}
	if v := q.Get("limit"); v != "" {
		if rq.Limit, err = strconv.Atoi(v); err != nil || rq.Limit < 1 || rq.Limit > MaxPageSize {
			return rq, fmt.Errorf("limit must be 1 to %d", MaxPageSize)
		}
	}
	if v := q.Get("page"); v != "" {
		if rq.Page, err = strconv.Atoi(v); err != nil || rq.Page < 1 || rq.Page > 1_000_000 {
			return rq, errors.New("page must be 1 or more")
		}
	}
	if v := q.Get("step"); v != "" {
		if rq.Step, err = strconv.ParseInt(v, 10, 64); err != nil || rq.Step < 1 {
			return rq, errors.New("step must be a step id (a whole number from 1)")
		}
	}
	switch p := q.Get("period"); p {
	case "", "week":
		rq.Period = store.Week
	case "day":
		rq.Period = store.Day
	default:
		return rq, fmt.Errorf("period %q is not day or week", p)
	}
	return rq, nil
}

// statusChunk is how many builds a status filter reads at a time; more
// builds than that starting in one millisecond would end the reading.
var statusChunk = 1000

// builds is one page of the history, newest first, and whether there are
// more. The store does not filter by status: with a status, the history is
// read in chunks, newest first, until the page is full, so a page of recent
// failures does not read a year of builds.
func (srv *Server) builds(ctx context.Context, rq readQuery) ([]store.BuildSummary, bool, error) {
	hq := store.HistoryQuery{Project: rq.Project, Branch: rq.Branch, Since: rq.Since, Until: rq.Until}
	skip := (rq.Page - 1) * rq.Limit
	need := skip + rq.Limit + 1
	var rows []store.BuildSummary
	if rq.Status == "" {
		hq.Limit = need
		var err error
		if rows, err = srv.s.History(ctx, hq); err != nil {
			return nil, false, err
		}
	} else {
		seen := map[int64]bool{}
		for len(rows) < need {
			hq.Limit = statusChunk
			got, err := srv.s.History(ctx, hq)
			if err != nil {
				return nil, false, err
			}
			fresh := 0
			for _, b := range got {
				if seen[b.ID] {
					continue
				}
				seen[b.ID], fresh = true, fresh+1
				if b.Status == rq.Status {
					rows = append(rows, b)
				}
			}
			if len(got) < statusChunk || fresh == 0 {
				break
			}
			// The next chunk ends with the last start read, inclusive
			// (Until is exclusive): builds that started in the same
			// millisecond are not skipped, and the ones read are.
			hq.Until = got[len(got)-1].StartedAt.Add(time.Millisecond)
		}
	}
	if skip >= len(rows) {
		return nil, false, nil
	}
	rows = rows[skip:]
	more := len(rows) > rq.Limit
	if more {
		rows = rows[:rq.Limit]
	}
	return rows, more, nil
}

func (srv *Server) renderOptions() report.RenderOptions {
	return report.RenderOptions{Wide: true, AllSteps: true, Mask: srv.cfg.Mask.String}
}

// render writes a CLI JSON contract.
func (srv *Server) render(w http.ResponseWriter, f func(io.Writer) error) {
	var buf bytes.Buffer
	if err := f(&buf); err != nil {
		srv.storeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// apiBuilds is GET /api/v1/builds: history --format json, a page at a
// time; Link names the next page.
func (srv *Server) apiBuilds(w http.ResponseWriter, r *http.Request) {
	rq, err := srv.parseRead(r, "")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rows, more, err := srv.builds(r.Context(), rq)
	if err != nil {
		srv.storeError(w, err)
		return
	}
	if more {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(rq.Page+1))
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
	}
	srv.render(w, func(out io.Writer) error {
		return report.RenderBuilds(out, report.FormatJSON, rows, srv.renderOptions())
	})
}

// buildID reads the {id} of a path: a number, or any reference the CLI
// takes (latest, a hash prefix).
func (srv *Server) buildID(ctx context.Context, ref, project string) (int64, int, error) {
	id, err := srv.s.Resolve(ctx, ref, project)
	switch {
	case err == nil:
		return id, 0, nil
	case errors.Is(err, store.ErrNotFound):
		return 0, http.StatusNotFound, fmt.Errorf("no build %q", ref)
	case store.IsDatabaseError(err):
		return 0, 0, err
	}
	return 0, http.StatusBadRequest, err
}

// explained loads a stored build and explains it as show does.
func (srv *Server) explained(ctx context.Context, id int64) (store.BuildSummary, *model.Build, store.Meta, *report.Explanation, *report.Baseline, error) {
	sum, err := srv.s.Summary(ctx, id)
	if err != nil {
		return sum, nil, store.Meta{}, nil, nil, err
	}
	b, meta, err := srv.s.Build(ctx, id)
	if err != nil {
		return sum, nil, meta, nil, nil, err
	}
	srv.cfg.Mask.Build(b) // stored before masking, or with --no-mask
	base, err := report.BaselineOfStored(ctx, srv.s, id)
	if err != nil {
		return sum, nil, meta, nil, nil, err
	}
	if base != nil {
		srv.cfg.Mask.Build(base.Build) // masked alike, so its steps match b's
	}
	e := report.Explain(b, report.Options{Baseline: base})
	if e.History, err = report.HistoryOfStored(ctx, srv.s, id, b, e); err != nil {
		return sum, nil, meta, nil, nil, err
	}
	return sum, b, meta, e, base, nil
}

// apiBuild is GET /api/v1/builds/{id}: show --format json.
func (srv *Server) apiBuild(w http.ResponseWriter, r *http.Request) {
	id, code, err := srv.buildID(r.Context(), r.PathValue("id"), r.URL.Query().Get("project"))
	if err != nil {
		srv.readError(w, code, err)
		return
	}
	sum, _, _, e, _, err := srv.explained(r.Context(), id)
	if err != nil {
		srv.storeError(w, err)
		return
	}
	srv.render(w, func(out io.Writer) error {
		return report.RenderStoredBuild(out, report.FormatJSON, sum, e, srv.renderOptions())
	})
}

func (srv *Server) readError(w http.ResponseWriter, code int, err error) {
	if code == 0 {
		srv.storeError(w, err)
		return
	}
	writeError(w, code, err.Error())
}

// comparison compares the builds of the before and after parameters as
// compare does.
func (srv *Server) comparison(r *http.Request) (*store.Comparison, []report.CacheBreak, int, error) {
	ctx, q := r.Context(), r.URL.Query()
	if q.Get("before") == "" || q.Get("after") == "" {
		return nil, nil, http.StatusBadRequest, errors.New("name the builds to compare: before=ID&after=ID")
	}
	before, code, err := srv.buildID(ctx, q.Get("before"), q.Get("project"))
	if err != nil {
		return nil, nil, code, err
	}
	after, code, err := srv.buildID(ctx, q.Get("after"), q.Get("project"))
	if err != nil {
		return nil, nil, code, err
	}
	if before == after {
		return nil, nil, http.StatusBadRequest, fmt.Errorf("before and after are the same build (#%d)", before)
	}
	c, err := srv.s.Compare(ctx, before, after)
	if err != nil {
		return nil, nil, 0, err
	}
	b, _, err := srv.s.Build(ctx, after)
	if err != nil {
		return nil, nil, 0, err
	}
	pb, _, err := srv.s.Build(ctx, before)
	if err != nil {
		return nil, nil, 0, err
	}
	srv.cfg.Mask.Build(b)
	srv.cfg.Mask.Build(pb)
	e := report.Explain(b, report.Options{Baseline: &report.Baseline{ID: before, Build: pb, Nodes: store.NodeLoader(ctx, srv.s)}})
	return c, e.CacheBreaks, 0, nil
}

// apiCompare is GET /api/v1/compare?before=&after=: compare --format json.
func (srv *Server) apiCompare(w http.ResponseWriter, r *http.Request) {
	c, breaks, code, err := srv.comparison(r)
	if err != nil {
		srv.readError(w, code, err)
		return
	}
	srv.render(w, func(out io.Writer) error {
		return report.RenderComparisonCauses(out, report.FormatJSON, c, breaks, srv.renderOptions())
	})
}

func (srv *Server) trendQuery(rq readQuery) store.TrendQuery {
	return store.TrendQuery{Project: rq.Project, Branch: rq.Branch, Period: rq.Period, Since: rq.Since, Until: rq.Until}
}

// apiTrends is GET /api/v1/trends: trends --format json.
func (srv *Server) apiTrends(w http.ResponseWriter, r *http.Request) {
	rq, err := srv.parseRead(r, "")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	tr, d, err := report.LoadTrends(r.Context(), srv.s, srv.trendQuery(rq), report.DetailQuery{Step: rq.Step, Branches: true, Misses: true})
	if errors.Is(err, report.ErrNoStep) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		srv.storeError(w, err)
		return
	}
	rep := report.NewTrendsReport(tr, rq.Project, rq.Branch)
	rep.AddDetail(d)
	srv.render(w, func(out io.Writer) error {
		return report.RenderTrends(out, report.FormatJSON, rep, srv.renderOptions())
	})
}

// stepStats ranks steps as slow and misses do, over 30 days by default.
func (srv *Server) stepStats(ctx context.Context, kind string, rq readQuery) (*report.StepStatsReport, error) {
	q := store.WindowQuery{Since: rq.Since, Until: rq.Until, Project: rq.Project, Branch: rq.Branch, Limit: rq.Limit}
	var steps []store.StepStats
	var err error
	if kind == report.StatsMisses {
		steps, err = srv.s.Misses(ctx, q)
	} else {
		steps, err = srv.s.Slow(ctx, q)
	}
	if err != nil {
		return nil, err
	}
	builds, err := store.CountBuilds(ctx, srv.s, store.HistoryQuery{Project: rq.Project, Branch: rq.Branch, Since: rq.Since, Until: rq.Until})
	if err != nil {
		return nil, err
	}
	return report.NewStepStatsReport(kind, rq.Project, rq.Branch, rq.Since, rq.Until, builds, steps), nil
}

func (srv *Server) apiStepStats(w http.ResponseWriter, r *http.Request, kind string) {
	rq, err := srv.parseRead(r, "30d")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.URL.Query().Get("limit") == "" {
		rq.Limit = 20
	}
	rep, err := srv.stepStats(r.Context(), kind, rq)
	if err != nil {
		srv.storeError(w, err)
		return
	}
	srv.render(w, func(out io.Writer) error {
		return report.RenderStepStats(out, report.FormatJSON, rep, srv.renderOptions())
	})
}

// apiSlow is GET /api/v1/slow: slow --format json.
func (srv *Server) apiSlow(w http.ResponseWriter, r *http.Request) {
	srv.apiStepStats(w, r, report.StatsSlow)
}

// apiMisses is GET /api/v1/misses: misses --format json.
func (srv *Server) apiMisses(w http.ResponseWriter, r *http.Request) {
	srv.apiStepStats(w, r, report.StatsMisses)
}
