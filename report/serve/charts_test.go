package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store"
)

// TestTrendsCharts: the trends page and API carry the builds per branch,
// the time lost to cache misses, and a followed step's run time, on both
// stores.
func TestTrendsCharts(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
			ts := start(t, s, Config{ReadOpen: true, Now: func() time.Time { return now }})
			tok, _ := token(t, s, "shop", store.ScopeIngest, time.Time{})
			cold, warm := fixture(t, probe+"plain-cold.log"), fixture(t, probe+"plain-warm.log")
			for _, b := range []struct {
				log          []byte
				branch, time string
			}{
				{cold, "main", "2026-11-02T10:00:00Z"},
				{warm, "feature", "2026-11-10T10:00:00Z"},
				// The cold build again (another hash): what the warm one
				// took from the cache runs again, a week later.
				{append(append([]byte{}, cold...), '\n'), "main", "2026-11-17T10:00:00Z"},
			} {
				if a := do(t, "POST", ts.URL+"/api/v1/builds?branch="+b.branch+"&time="+b.time, tok, "", b.log); a.code != http.StatusCreated {
					t.Fatalf("post: %d %s", a.code, a.body)
				}
			}
			var tr report.TrendsReport
			a := do(t, "GET", ts.URL+"/api/v1/trends?since=2026-11-02", "", "", nil)
			if err := json.Unmarshal(a.body, &tr); err != nil || tr.SchemaVersion != 2 || len(tr.Periods) != 3 {
				t.Fatalf("trends: %v %.500s", err, a.body)
			}
			branches := func(p report.TrendPeriod) string {
				var out []string
				for _, b := range p.Branches {
					out = append(out, fmt.Sprintf("%s:%d", *b.Branch, b.Builds))
				}
				return strings.Join(out, ",")
			}
			if got := branches(tr.Periods[0]) + " " + branches(tr.Periods[1]) + " " + branches(tr.Periods[2]); got != "main:1 feature:1 main:1" {
				t.Errorf("branches per week: %s", got)
			}
			first, last := tr.Periods[0], tr.Periods[2]
			if first.LostRuns != 0 || first.LostSeconds == nil || *first.LostSeconds != 0 {
				t.Errorf("the first week lost %d runs, %v s; want none, 0", first.LostRuns, first.LostSeconds)
			}
			if last.LostRuns == 0 || last.LostSeconds == nil || *last.LostSeconds <= 0 {
				t.Errorf("the third week lost %d runs, %v s; want the runs the warm build took from the cache", last.LostRuns, last.LostSeconds)
			}
			t.Logf("the third week lost %d runs (%d timed), %v s", last.LostRuns, last.LostTimedRuns, *last.LostSeconds)
			if tr.Step != nil {
				t.Errorf("a step without step=: %+v", tr.Step)
			}

			// A step row of /slow links its run time on the trends page.
			page := do(t, "GET", ts.URL+"/slow?since=2026-11-01", "", "", nil)
			i := strings.Index(string(page.body), `<a href="/trends?`)
			if i < 0 {
				t.Fatalf("/slow links no step to /trends:\n%s", page.body)
			}
			link := string(page.body[i+len(`<a href="`):])
			link = strings.ReplaceAll(link[:strings.Index(link, `"`)], "&amp;", "&")
			var id int64
			if _, err := fmt.Sscanf(link[strings.Index(link, "step=")+5:], "%d", &id); err != nil {
				t.Fatalf("link %q: %v", link, err)
			}
			page = do(t, "GET", ts.URL+link, "", "", nil)
			body := string(page.body)
			for _, want := range []string{`<section id="step" class="steptime">`, `<section id="builds-per-branch">`, `<section id="cache-misses">`} {
				if page.code != 200 || !strings.Contains(body, want) {
					t.Errorf("GET %s: %d, lacks %s", link, page.code, want)
				}
			}
			a = do(t, "GET", ts.URL+fmt.Sprintf("/api/v1/trends?since=2026-11-02&step=%d", id), "", "", nil)
			tr = report.TrendsReport{}
			if err := json.Unmarshal(a.body, &tr); err != nil || tr.Step == nil || tr.Step.StepID != id || tr.Step.Project != "shop" ||
				len(tr.Step.Periods) != 3 || tr.Step.Periods[0].Builds != 1 {
				t.Errorf("step %d: %v %.800s", id, err, a.body)
			}
			// A step of the history not built in the window: named, with
			// no builds; one the history does not have: 404.
			if a := do(t, "GET", ts.URL+fmt.Sprintf("/trends?since=2026-11-18&step=%d", id), "", "", nil); a.code != 200 || !strings.Contains(string(a.body), "No builds") {
				t.Errorf("a step not built in the window: %d", a.code)
			}
			a = do(t, "GET", ts.URL+fmt.Sprintf("/api/v1/trends?since=2026-11-18&step=%d", id), "", "", nil)
			tr = report.TrendsReport{}
			if err := json.Unmarshal(a.body, &tr); err != nil || tr.Step == nil || tr.Step.StepID != id || tr.Step.Step == "" ||
				len(tr.Step.Periods) != len(tr.Periods) {
				t.Errorf("step %d, not built in the window: %v %.800s", id, err, a.body)
			}
			for _, p := range tr.Step.Periods {
				if p.Builds != 0 || p.P50Seconds != nil {
					t.Errorf("step %d, not built in the window: %+v", id, p)
				}
			}
			for _, path := range []string{"/trends?step=999999999", "/api/v1/trends?step=999999999"} {
				if a := do(t, "GET", ts.URL+path, "", "", nil); a.code != http.StatusNotFound || !strings.Contains(string(a.body), "no such step") {
					t.Errorf("GET %s, a step the history does not have: %d %.300s", path, a.code, a.body)
				}
			}
			if a := do(t, "GET", ts.URL+"/trends?step=x", "", "", nil); a.code != http.StatusBadRequest {
				t.Errorf("step=x: %d", a.code)
			}
		})
	}
}
