package serve

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/report/internal/browsertest"
	"github.com/buildstats/buildstats/report/safe/safetest"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// hostileMeta is metadata a CI job could send to break out of a page.
var hostileMeta = url.Values{
	"branch":      {`feat/<script>alert(1)</script>`},
	"commit":      {"::error::pwned\u202e"},
	"ci_url":      {"javascript:alert(1)"},
	"runner":      {"\x1b[2Jrunner</td><td>"},
	"tag":         {`img"><img src=x onerror=alert(1)>`},
	"ci_provider": {"##vso[task.setvariable]x"},
}

// servedHostile serves a history holding every hostile log of the corpus,
// sent through the API with hostile metadata, and a few real ones.
func servedHostile(t *testing.T) (*testServer, safetest.Corpus, []int64) {
	t.Helper()
	s := openSQLite(t)
	ts := start(t, s, Config{ReadOpen: true})
	tok, _ := token(t, s, "shop", store.ScopeIngest, time.Time{})
	corpus := safetest.LoadCorpus(t, filepath.Join(storetest.FixturesDir(), "hostile"))
	var ids []int64
	logs := append([]string{storetest.Probe("plain-cold.log"), storetest.Probe("plain-warm.log")}, corpus.Logs...)
	for i, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{}
		for k, v := range hostileMeta {
			q[k] = v
		}
		q.Set("time", time.Date(2026, 11, 1+i, 10, 0, 0, 0, time.UTC).Format(time.RFC3339))
		a := do(t, "POST", ts.URL+"/api/v1/builds?"+q.Encode(), tok, "gzip", gzipped(data))
		if a.code != 201 {
			t.Fatalf("%s: %d %s", path, a.code, a.body)
		}
		ids = append(ids, stored(t, a).IDs...)
	}
	return ts, corpus, ids
}

// Every page and API answer of a history of hostile logs and metadata is
// neutral: nothing a CI or terminal acts on, no secret of the corpus.
func TestHostilePages(t *testing.T) {
	ts, corpus, ids := servedHostile(t)
	paths := []string{"/", "/?status=failed", "/trends?since=", "/trends?period=day&since=", "/slow?since=", "/misses?since=",
		"/api/v1/builds", "/api/v1/trends?since=", "/api/v1/slow?since=", "/api/v1/misses?since="}
	for i, id := range ids {
		paths = append(paths, fmt.Sprintf("/builds/%d", id), fmt.Sprintf("/api/v1/builds/%d", id))
		if i > 0 {
			paths = append(paths, fmt.Sprintf("/compare?before=%d&after=%d", ids[i-1], id), fmt.Sprintf("/api/v1/compare?before=%d&after=%d", ids[i-1], id))
		}
	}
	for _, p := range paths {
		a := do(t, "GET", ts.URL+p, "", "", nil)
		if a.code != 200 {
			t.Errorf("GET %s: %d %.300s", p, a.code, a.body)
			continue
		}
		safetest.Check(t, p, a.body, safetest.Options{Secrets: corpus.Secrets})
		if strings.HasPrefix(p, "/api/") {
			continue
		}
		// Log text shows as text: no element or link of its own.
		for _, bad := range []string{"<script", "<img", `href="javascript:`} {
			if strings.Contains(strings.ToLower(string(a.body)), bad) {
				i := strings.Index(strings.ToLower(string(a.body)), bad)
				t.Errorf("GET %s: the page holds %q: %s", p, bad, a.body[max(0, i-80):i+20])
			}
		}
	}
}

// pageCheck is evaluated in every served page: what it shows and whether
// it holds anything active.
const pageCheck = `{
	builds: document.querySelectorAll("#builds tr.build").length,
	steps: document.querySelectorAll("#steps tr.step").length,
	bars: document.querySelectorAll("svg.waterfall rect.bar").length,
	charts: document.querySelectorAll("svg.chart").length,
	nav: document.querySelectorAll("header.bs-nav a").length,
	active: document.querySelectorAll("script, iframe, object, embed, img, link, base").length,
	title: document.title,
	followed: document.querySelectorAll("section#step svg.chart path.line").length,
	branches: document.querySelectorAll("#builds-per-branch svg.chart path.line").length,
	lost: document.querySelectorAll("#cache-misses svg.chart path.line").length,
}`

type pageDOM struct {
	Builds, Steps, Bars, Charts, Nav, Active int
	Title                                    string
	// Lines of the followed step's chart, of builds per branch and of
	// the time lost to cache misses.
	Followed, Branches, Lost int
}

// The pages render in headless Chromium: the builds list has every build,
// a build page its waterfall, trends their charts; no page has a script,
// logs a console error or requests anything beyond its own origin.
func TestBrowserPages(t *testing.T) {
	ts, _, ids := servedHostile(t)
	b := browsertest.Start(t, ts.URL+"/healthz")
	last := ids[len(ids)-1]
	slow, err := ts.s.Slow(storetest.Ctx, store.WindowQuery{Limit: 1})
	if err != nil || len(slow) == 0 {
		t.Fatal(slow, err)
	}
	for _, c := range []struct {
		path  string
		check func(d pageDOM) bool
	}{
		{"/?limit=100", func(d pageDOM) bool { return d.Builds == len(ids) }},
		{"/?limit=2&page=2", func(d pageDOM) bool { return d.Builds == 2 }},
		{fmt.Sprintf("/builds/%d", ids[0]), func(d pageDOM) bool { return d.Bars > 0 }},
		{fmt.Sprintf("/builds/%d", last), func(d pageDOM) bool { return d.Title != "" }},
		{fmt.Sprintf("/compare?before=%d&after=%d", ids[0], ids[1]), func(d pageDOM) bool { return d.Steps > 0 }},
		{"/trends?since=&period=day", func(d pageDOM) bool { return d.Charts >= 3 }},
		// p50 and p95 of the followed step, a line per branch, time lost.
		{fmt.Sprintf("/trends?since=&step=%d", slow[0].StepID), func(d pageDOM) bool {
			return d.Followed == 2 && d.Branches >= 1 && d.Lost == 1
		}},
		{"/slow?since=", func(d pageDOM) bool { return d.Steps > 0 }},
		{"/misses?since=", func(d pageDOM) bool { return d.Steps > 0 }},
	} {
		r := b.Render(ts.URL+c.path, pageCheck)
		var d pageDOM
		if err := json.Unmarshal(r.DOM, &d); err != nil {
			t.Fatal(err)
		}
		if len(r.Problems) > 0 {
			t.Errorf("%s: %s", c.path, strings.Join(r.Problems, "\n"))
		}
		if !c.check(d) || d.Active != 0 || d.Nav < 5 {
			t.Errorf("%s: DOM %+v", c.path, d)
		}
	}
}

// A status filter reads the history in chunks: every page has the builds
// of that status, newest first, whatever the chunk size.
func TestStatusPages(t *testing.T) {
	ts, _, _ := servedHostile(t)
	all, err := ts.s.History(storetest.Ctx, store.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	defer func(n int) { statusChunk = n }(statusChunk)
	for _, status := range []string{"succeeded", "failed", "unknown"} {
		var want []int64
		for _, b := range all {
			if b.Status == status {
				want = append(want, b.ID)
			}
		}
		for _, chunk := range []int{2, 3, 1000} {
			statusChunk = chunk
			var got []int64
			for page := 1; page < 20; page++ {
				a := do(t, "GET", fmt.Sprintf("%s/api/v1/builds?status=%s&limit=2&page=%d", ts.URL, status, page), "", "", nil)
				var list struct {
					Builds []struct {
						ID int64 `json:"id"`
					} `json:"builds"`
				}
				if err := json.Unmarshal(a.body, &list); err != nil {
					t.Fatal(err)
				}
				for _, b := range list.Builds {
					got = append(got, b.ID)
				}
				if a.hdr.Get("Link") == "" {
					break
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("status %s, chunks of %d: %v, want %v", status, chunk, got, want)
			}
		}
	}
}
