package serve

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/report"
	reporthtml "github.com/buildstats/buildstats/report/html"
	"github.com/buildstats/buildstats/report/safe"
	"github.com/buildstats/buildstats/store"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var pages = template.Must(template.New("").ParseFS(templateFS, "templates/*.tmpl"))

// text is how a string from a log or the history is shown: secrets
// masked, control characters visible and CI markers inert; html/template
// then escapes it for its place in the page.
func (srv *Server) text(s string) string { return safe.Line(srv.cfg.Mask.String(s)) }

// writePage renders the template name to w, whole or not at all.
func writePage(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// pageError shows a page's error as a page.
func (srv *Server) pageError(w http.ResponseWriter, code int, err error) {
	msg := "the build history failed to answer"
	if code == 0 {
		if srv.cfg.Log != nil {
			srv.cfg.Log("%v", err)
		}
		code = http.StatusInternalServerError
		if store.IsDatabaseError(err) {
			code = http.StatusServiceUnavailable
		}
	} else {
		msg = err.Error()
	}
	w.WriteHeader(code)
	writePage(w, "error", struct{ Title, Message string }{http.StatusText(code), srv.text(msg)})
}

type buildRowView struct {
	ID, Previous                                       int64
	Project, Branch, Commit, Started, Status, Duration string
	Steps, Cached                                      int
}

// pageBuilds is the builds page, /: the history newest first, filtered
// and paged.
func (srv *Server) pageBuilds(w http.ResponseWriter, r *http.Request) {
	rq, err := srv.parseRead(r, "")
	if err != nil {
		srv.pageError(w, http.StatusBadRequest, err)
		return
	}
	// One more row than shown: the last row's previous build links a
	// comparison.
	rows, more, err := srv.builds(r.Context(), rq)
	if err != nil {
		srv.pageError(w, 0, err)
		return
	}
	view := struct {
		Title      string
		Q          readQuery
		Rows       []buildRowView
		Prev, Next string
	}{Title: "Builds", Q: rq}
	if rq.Project != "" {
		view.Title += " of " + srv.text(rq.Project)
	}
	for i, b := range rows {
		v := buildRowView{ID: b.ID, Project: srv.text(b.Project), Branch: srv.text(b.Branch), Commit: srv.text(shortCommit(b.Commit)),
			Started: b.StartedAt.UTC().Format("2006-01-02 15:04"), Status: b.Status, Steps: b.StepsTotal, Cached: b.StepsCached,
			Duration: "?"}
		if b.DurationSource != "" {
			v.Duration = report.FormatSeconds(b.DurationSeconds)
		}
		// The build before it in the list, when it is of the same project.
		if i+1 < len(rows) && rows[i+1].Project == b.Project {
			v.Previous = rows[i+1].ID
		}
		view.Rows = append(view.Rows, v)
	}
	page := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return "/?" + q.Encode()
	}
	if rq.Page > 1 {
		view.Prev = page(rq.Page - 1)
	}
	if more {
		view.Next = page(rq.Page + 1)
	}
	writePage(w, "builds", view)
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// navBar is put at the top of the pages package html renders whole (a
// build, trends): links only, as their own policy allows no forms.
func navBar(extra string) string {
	const a = `style="color:#f6f8fa;text-decoration:none;margin-right:1.2em"`
	return `<header class="bs-nav" style="background:#24292f;padding:.5em 1.2em;font:14px system-ui,sans-serif">` +
		`<a ` + a + ` href="/"><strong>buildstats</strong></a><a ` + a + ` href="/">Builds</a><a ` + a + ` href="/trends">Trends</a>` +
		`<a ` + a + ` href="/slow">Slow steps</a><a ` + a + ` href="/misses">Cache misses</a><a ` + a + ` href="/compare">Compare</a>` +
		extra + `</header>`
}

// withNav puts nav right after the page's <body>.
func withNav(page []byte, nav string) []byte {
	i := bytes.Index(page, []byte("<body>"))
	if i < 0 {
		return page
	}
	i += len("<body>")
	out := make([]byte, 0, len(page)+len(nav))
	out = append(out, page[:i]...)
	out = append(out, nav...)
	return append(out, page[i:]...)
}

func writeWhole(w http.ResponseWriter, page []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(page)
}

// pageBuild is a build's page, /builds/{id}: what report writes of a
// stored build.
func (srv *Server) pageBuild(w http.ResponseWriter, r *http.Request) {
	id, code, err := srv.buildID(r.Context(), r.PathValue("id"), "")
	if err != nil {
		srv.pageError(w, code, err)
		return
	}
	b, meta, err := srv.s.Build(r.Context(), id)
	if err != nil {
		srv.pageError(w, 0, err)
		return
	}
	srv.cfg.Mask.Build(b)
	ho := reporthtml.Options{Mask: srv.cfg.Mask, Generated: srv.cfg.Now()}
	if ho.Report.Baseline, err = report.BaselineOfStored(r.Context(), srv.s, id); err != nil {
		srv.pageError(w, 0, err)
		return
	}
	if ho.Report.Baseline != nil {
		srv.cfg.Mask.Build(ho.Report.Baseline.Build)
	}
	ho.Title = fmt.Sprintf("Docker build %d", id)
	if meta.Project != "" {
		ho.Title += " of " + meta.Project
	}
	ho.Facts = reporthtml.MetaFacts(meta)
	var page bytes.Buffer
	if err := reporthtml.WriteBuild(&page, b, ho); err != nil {
		srv.pageError(w, 0, err)
		return
	}
	extra := ""
	if ho.Report.Baseline != nil {
		extra = fmt.Sprintf(`<a style="color:#f6f8fa" href="/compare?before=%d&amp;after=%d">compare with #%d</a>`,
			ho.Report.Baseline.ID, id, ho.Report.Baseline.ID)
	}
	writeWhole(w, withNav(page.Bytes(), navBar(extra)))
}

// pageTrends is /trends: trends --html, with links to pick the period and
// the window.
func (srv *Server) pageTrends(w http.ResponseWriter, r *http.Request) {
	rq, err := srv.parseRead(r, "26w")
	if err != nil {
		srv.pageError(w, http.StatusBadRequest, err)
		return
	}
	page, err := reporthtml.LoadTrends(r.Context(), srv.s, srv.trendQuery(rq), rq.Step)
	if errors.Is(err, report.ErrNoStep) {
		srv.pageError(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		srv.pageError(w, 0, err)
		return
	}
	page.Mask, page.Generated = srv.cfg.Mask, srv.cfg.Now()
	var buf bytes.Buffer
	if err := reporthtml.WriteTrends(&buf, page); err != nil {
		srv.pageError(w, 0, err)
		return
	}
	var picker strings.Builder
	link := func(label, key, value string, current bool) {
		q := r.URL.Query()
		q.Set(key, value)
		style := "color:#f6f8fa;margin-left:.6em"
		if current {
			style += ";font-weight:700;text-decoration:none"
		}
		fmt.Fprintf(&picker, `<a style="%s" href="/trends?%s">%s</a>`, style, template.HTMLEscapeString(q.Encode()), label)
	}
	picker.WriteString(`<span style="color:#8c959f;margin-left:1em">period:</span>`)
	link("day", "period", "day", rq.Period == store.Day)
	link("week", "period", "week", rq.Period == store.Week)
	picker.WriteString(`<span style="color:#8c959f;margin-left:1em">window:</span>`)
	for _, win := range []string{"30d", "13w", "26w", "52w"} {
		link(win, "since", win, rq.SinceText == win)
	}
	link("all", "since", "", rq.SinceText == "")
	writeWhole(w, withNav(buf.Bytes(), navBar(picker.String())))
}

type stepView struct {
	// Trends links the step's run time per period on the trends page.
	Trends                          string
	Name, Project                   string
	Builds, Runs, Hits              int
	MissRate, P50, P95, Total, Lost string
}

func seconds(p *float64) string {
	if p == nil {
		return "?"
	}
	return report.FormatSeconds(*p)
}

func (srv *Server) pageStats(w http.ResponseWriter, r *http.Request, kind string) {
	rq, err := srv.parseRead(r, "30d")
	if err != nil {
		srv.pageError(w, http.StatusBadRequest, err)
		return
	}
	if r.URL.Query().Get("limit") == "" {
		rq.Limit = 50
	}
	rep, err := srv.stepStats(r.Context(), kind, rq)
	if err != nil {
		srv.pageError(w, 0, err)
		return
	}
	view := struct {
		Title, Action string
		Q             readQuery
		Builds        int
		AllProjects   bool
		Steps         []stepView
	}{Title: "Slow steps", Action: "/slow", Q: rq, Builds: rep.Builds, AllProjects: rq.Project == ""}
	if kind == report.StatsMisses {
		view.Title, view.Action = "Time lost to cache misses", "/misses"
	}
	for _, s := range rep.Steps {
		v := stepView{Name: srv.text(s.Step), Project: srv.text(s.Project), Builds: s.Builds, Runs: s.Runs, Hits: s.CacheHits,
			MissRate: "–", P50: seconds(s.P50Seconds), P95: seconds(s.P95Seconds), Total: seconds(s.TotalSeconds), Lost: seconds(s.LostSeconds)}
		if s.MissRate != nil {
			v.MissRate = report.FormatShare(*s.MissRate)
		}
		tq := url.Values{"step": {strconv.FormatInt(s.StepID, 10)}, "project": {s.Project}}
		if rq.Branch != "" {
			tq.Set("branch", rq.Branch)
		}
		v.Trends = "/trends?" + tq.Encode() + "#step"
		view.Steps = append(view.Steps, v)
	}
	writePage(w, "stats", view)
}

// pageSlow is /slow: slow over a window (30 days by default).
func (srv *Server) pageSlow(w http.ResponseWriter, r *http.Request) {
	srv.pageStats(w, r, report.StatsSlow)
}

// pageMisses is /misses: misses over a window (30 days by default).
func (srv *Server) pageMisses(w http.ResponseWriter, r *http.Request) {
	srv.pageStats(w, r, report.StatsMisses)
}

type compareView struct {
	BeforeID, AfterID                                        int64
	BeforeStatus, AfterStatus, BeforeDuration, AfterDuration string
	Delta, BeforeContext, AfterContext, FirstChange, Lost    string
	Gained                                                   string
	Breaks                                                   []struct{ Step, Cause string }
	Steps                                                    []changeView
}

type changeView struct {
	Name, BeforeState, AfterState, BeforeTime, AfterTime, Delta string
}

func optBytes(p *int64) string {
	if p == nil {
		return "?"
	}
	return report.FormatBytes(*p)
}

// pageCompare is /compare?before=&after=: compare's table as a page.
func (srv *Server) pageCompare(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	view := struct {
		Title, Before, After string
		C                    *compareView
	}{Title: "Compare two builds", Before: q.Get("before"), After: q.Get("after")}
	if view.Before == "" && view.After == "" {
		writePage(w, "compare", view)
		return
	}
	sc, breaks, code, err := srv.comparison(r)
	if err != nil {
		srv.pageError(w, code, err)
		return
	}
	c := report.NewComparison(sc)
	cv := &compareView{BeforeID: c.Before.ID, AfterID: c.After.ID, BeforeStatus: c.Before.Status, AfterStatus: c.After.Status,
		BeforeDuration: seconds(c.Before.DurationSeconds), AfterDuration: seconds(c.After.DurationSeconds), Delta: "?",
		BeforeContext: optBytes(c.ContextBytesBefore), AfterContext: optBytes(c.ContextBytesAfter),
		Lost: report.FormatSeconds(c.CacheLostSeconds), Gained: report.FormatSeconds(c.CacheGainedSeconds)}
	view.Title = fmt.Sprintf("Build #%d against #%d", c.After.ID, c.Before.ID)
	if c.DurationDeltaSeconds != nil {
		cv.Delta = signed(*c.DurationDeltaSeconds)
	}
	if c.FirstCacheChange != nil {
		cv.FirstChange = srv.text(c.FirstCacheChange.Step)
	}
	for _, b := range breaks {
		cause := b.Reason
		if b.Cause != nil {
			cause = report.CauseLabel(b.Cause)
		}
		cv.Breaks = append(cv.Breaks, struct{ Step, Cause string }{srv.text(b.Name), srv.text(cause)})
	}
	for _, s := range c.Steps {
		d := "–"
		if s.DeltaSeconds != nil {
			d = signed(*s.DeltaSeconds)
		}
		cv.Steps = append(cv.Steps, changeView{Name: srv.text(s.Step), BeforeState: s.BeforeState, AfterState: s.AfterState,
			BeforeTime: seconds(s.BeforeSeconds), AfterTime: seconds(s.AfterSeconds), Delta: d})
	}
	view.C = cv
	writePage(w, "compare", view)
}

func signed(s float64) string {
	if s >= 0 {
		return "+" + report.FormatSeconds(s)
	}
	return "−" + report.FormatSeconds(-s)
}
