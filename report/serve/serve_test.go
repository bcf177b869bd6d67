package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/postgres"
	"github.com/buildstats/buildstats/store/postgres/pgtest"
	"github.com/buildstats/buildstats/store/sqlite"
	"github.com/buildstats/buildstats/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// opener makes a fresh, empty history.
type opener func(t testing.TB) store.Store

func openSQLite(t testing.TB) store.Store {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t testing.TB) store.Store {
	db := pgtest.NewDatabase(t)
	s, err := postgres.Open(context.Background(), db.Writer, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var stores = []struct {
	name string
	open opener
}{{"sqlite", openSQLite}, {"postgres", openPostgres}}

// testServer is a Server listening on a loopback port.
type testServer struct {
	*Server
	URL string
	s   store.Store
}

// start serves s on 127.0.0.1 until the test ends.
func start(t testing.TB, s store.Store, cfg Config) *testServer {
	t.Helper()
	srv, err := New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{Server: srv, URL: "http://" + ln.Addr().String(), s: s}
}

// token creates a token of scope for project, usable until expires (zero:
// never), and returns its text.
func token(t testing.TB, s store.Store, project, scope string, expires time.Time) (string, store.Token) {
	t.Helper()
	secret, hash, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.(store.TokenStore).CreateToken(context.Background(), store.Token{Project: project, Scope: scope, Hash: hash,
		CreatedAt: time.Now(), ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	return Text(tok.ID, secret), tok
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(storetest.FixturesDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func gzipped(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

type answer struct {
	code int
	body []byte
	hdr  http.Header
}

// do sends a request with an optional bearer token and body encoding.
func do(t testing.TB, method, url, tok, encoding string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, data, resp.Header}
}

func stored(t testing.TB, a answer) Stored {
	t.Helper()
	var st Stored
	if err := json.Unmarshal(a.body, &st); err != nil {
		t.Fatalf("answer %d %q: %v", a.code, a.body, err)
	}
	return st
}

func errorOf(t testing.TB, a answer) string {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(a.body, &e); err != nil || e.Error == "" {
		t.Fatalf("answer %d %q is not a JSON error", a.code, a.body)
	}
	return e.Error
}

func countBuilds(t testing.TB, s store.Store) int {
	t.Helper()
	rows, err := s.History(context.Background(), store.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

const probe = "buildkit-probe/"

// A CI job posts a log, plain or gzip; the same log again is the same
// build; the API answers with the CLI's contracts and the pages show it.
func TestIngestAndRead(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			ts := start(t, s, Config{ReadOpen: true})
			tok, _ := token(t, s, "shop", store.ScopeIngest, time.Time{})
			cold := fixture(t, probe+"plain-cold.log")

			a := do(t, "POST", ts.URL+"/api/v1/builds?branch=main&commit=abc123&ci_url=https://ci.example/run/1", tok, "", cold)
			if a.code != http.StatusCreated {
				t.Fatalf("first post: %d %s", a.code, a.body)
			}
			first := stored(t, a)
			if first.ID <= 0 || !first.Created || first.URL != fmt.Sprintf("/builds/%d", first.ID) || a.hdr.Get("Location") != first.URL {
				t.Fatalf("first post answered %+v (Location %q)", first, a.hdr.Get("Location"))
			}
			a = do(t, "POST", ts.URL+"/api/v1/builds?project=shop", tok, "gzip", gzipped(cold))
			if a.code != http.StatusOK || stored(t, a).ID != first.ID || stored(t, a).Created {
				t.Fatalf("the same log again, gzipped: %d %s; want 200 with id %d", a.code, a.body, first.ID)
			}
			a = do(t, "POST", ts.URL+"/api/v1/builds?branch=feature", tok, "gzip", gzipped(fixture(t, probe+"plain-warm.log")))
			if a.code != http.StatusCreated {
				t.Fatalf("a gzipped log: %d %s", a.code, a.body)
			}
			second := stored(t, a).ID

			rows, err := s.History(context.Background(), store.HistoryQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || rows[0].Project != "shop" {
				t.Fatalf("history: %+v", rows)
			}
			var want bytes.Buffer
			report.RenderBuilds(&want, report.FormatJSON, rows, ts.renderOptions())
			a = do(t, "GET", ts.URL+"/api/v1/builds", "", "", nil)
			if a.code != 200 || !bytes.Equal(a.body, want.Bytes()) {
				t.Fatalf("GET /api/v1/builds: %d\n%s\nwant history --format json --limit 0:\n%s", a.code, a.body, want.Bytes())
			}
			a = do(t, "GET", ts.URL+"/api/v1/builds?limit=1&page=2", "", "", nil)
			var list report.BuildList
			if err := json.Unmarshal(a.body, &list); err != nil || len(list.Builds) != 1 || list.Builds[0].ID != first.ID {
				t.Fatalf("page 2 of 1: %s", a.body)
			}
			if a := do(t, "GET", ts.URL+"/api/v1/builds?limit=1", "", "", nil); !strings.Contains(a.hdr.Get("Link"), "page=2") {
				t.Errorf("page 1 of 1 links no next page: %q", a.hdr.Get("Link"))
			}
			for _, path := range []string{
				fmt.Sprintf("/api/v1/builds/%d", first.ID),
				fmt.Sprintf("/api/v1/compare?before=%d&after=%d", first.ID, second),
				"/api/v1/trends?since=", "/api/v1/slow?since=", "/api/v1/misses?since=",
			} {
				a := do(t, "GET", ts.URL+path, "", "", nil)
				var v map[string]any
				if a.code != 200 || json.Unmarshal(a.body, &v) != nil || v["schema_version"] == nil {
					t.Errorf("GET %s: %d %.300s", path, a.code, a.body)
				}
			}
			for _, path := range []string{"/", fmt.Sprintf("/builds/%d", first.ID), fmt.Sprintf("/compare?before=%d&after=%d", first.ID, second),
				"/trends", "/slow", "/misses", "/?status=succeeded&project=shop"} {
				a := do(t, "GET", ts.URL+path, "", "", nil)
				if a.code != 200 || !bytes.Contains(a.body, []byte("</html>")) {
					t.Errorf("GET %s: %d %.300s", path, a.code, a.body)
				}
			}
			if a := do(t, "GET", ts.URL+"/healthz", "", "", nil); a.code != 200 {
				t.Errorf("healthz: %d", a.code)
			}
			a = do(t, "GET", ts.URL+"/metrics", "", "", nil)
			for _, want := range []string{`buildstats_builds_total{project="shop"} 2`, `buildstats_cache_hits_total{project="shop"}`,
				`buildstats_build_duration_seconds_count{project="shop"}`, `buildstats_steps_total{project="shop"}`} {
				if !bytes.Contains(a.body, []byte(want)) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if bytes.Contains(a.body, []byte(`branch=`)) {
				t.Error("/metrics has a branch label")
			}
		})
	}
}

// Writes need an ingest token of the build's project: no token, an
// unknown, revoked or expired one, or another project's is refused and
// nothing is written.
func TestIngestAuth(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			now := time.Now()
			ts := start(t, s, Config{ReadOpen: true})
			good, goodTok := token(t, s, "shop", store.ScopeIngest, now.Add(time.Hour))
			revoked, rt := token(t, s, "shop", store.ScopeIngest, time.Time{})
			if err := s.(store.TokenStore).RevokeToken(context.Background(), rt.ID, now); err != nil {
				t.Fatal(err)
			}
			expired, _ := token(t, s, "shop", store.ScopeIngest, now.Add(-time.Minute))
			read, _ := token(t, s, "", store.ScopeRead, time.Time{})
			other, _ := token(t, s, "blog", store.ScopeIngest, time.Time{})
			wrongSecret := fmt.Sprintf("%s%d_%s", tokenPrefix, goodTok.ID, strings.Repeat("A", 43))
			log := fixture(t, probe+"plain-cold.log")
			for _, tc := range []struct {
				name, tok, query string
				code             int
			}{
				{"no token", "", "", 401},
				{"not a token", "hunter2", "", 401},
				{"wrong secret", wrongSecret, "", 401},
				{"unknown id", fmt.Sprintf("%s%d_%s", tokenPrefix, 9999, strings.Repeat("A", 43)), "", 401},
				{"revoked", revoked, "", 401},
				{"expired", expired, "", 401},
				{"read scope", read, "", 403},
				{"other project's", other, "?project=shop", 403},
			} {
				a := do(t, "POST", ts.URL+"/api/v1/builds"+tc.query, tc.tok, "", log)
				if a.code != tc.code {
					t.Errorf("%s: %d %s, want %d", tc.name, a.code, a.body, tc.code)
				} else {
					errorOf(t, a)
				}
			}
			if n := countBuilds(t, s); n != 0 {
				t.Fatalf("%d builds written by refused requests", n)
			}
			if a := do(t, "POST", ts.URL+"/api/v1/builds?project=shop", good, "", log); a.code != 201 {
				t.Fatalf("the good token: %d %s", a.code, a.body)
			}
		})
	}
}

// Bad input is a 4xx with a JSON error, and nothing is stored.
func TestIngestBadInput(t *testing.T) {
	s := openSQLite(t)
	log := fixture(t, probe+"plain-cold.log")
	ts := start(t, s, Config{ReadOpen: true, MaxBody: int64(len(log))})
	tok, _ := token(t, s, "shop", store.ScopeIngest, time.Time{})
	bomb := gzipped(bytes.Repeat([]byte("#1 [internal] load build definition\n"), 1<<16))
	for _, tc := range []struct {
		name, encoding, query string
		body                  []byte
		code                  int
		says                  string
	}{
		{"not a build log", "", "", []byte("hello, world\nthis is a README\n"), 422, "not a build log"},
		{"empty", "", "", nil, 422, "not a build log"},
		{"too large", "", "", append(append([]byte{}, log...), '\n'), 413, "larger than"},
		{"too large once decompressed", "gzip", "", bomb, 413, "larger than"},
		{"not gzip", "gzip", "", log, 400, "gzip"},
		{"cut gzip", "gzip", "", gzipped(log)[:200], 400, "gzip"},
		{"unknown encoding", "br", "", log, 415, "Content-Encoding"},
		{"bad time", "", "?time=yesterday", log, 400, "time"},
		{"bad format", "", "?format=xml", log, 400, "format"},
		{"repeated project", "", "?project=shop&project=shop", log, 400, "project"},
	} {
		a := do(t, "POST", ts.URL+"/api/v1/builds"+tc.query, tok, tc.encoding, tc.body)
		if a.code != tc.code || !strings.Contains(errorOf(t, a), tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, a.code, a.body, tc.code, tc.says)
		}
	}
	if n := countBuilds(t, s); n != 0 {
		t.Fatalf("%d builds stored from bad input", n)
	}
	if a := do(t, "POST", ts.URL+"/api/v1/builds", tok, "", log); a.code != 201 {
		t.Fatalf("a log of exactly the limit: %d %s", a.code, a.body)
	}
}

// Reads beyond loopback need the read token or a token of read scope; an
// ingest token does not read.
func TestReadAuth(t *testing.T) {
	s := openSQLite(t)
	ts := start(t, s, Config{ReadToken: "shared-read-secret"})
	read, _ := token(t, s, "", store.ScopeRead, time.Time{})
	ingest, _ := token(t, s, "shop", store.ScopeIngest, time.Time{})
	for _, path := range []string{"/", "/api/v1/builds", "/trends", "/metrics"} {
		if a := do(t, "GET", ts.URL+path, "", "", nil); a.code != 401 || a.hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without a token: %d", path, a.code)
		}
		if a := do(t, "GET", ts.URL+path, ingest, "", nil); a.code != 403 {
			t.Errorf("GET %s with an ingest token: %d", path, a.code)
		}
		if a := do(t, "GET", ts.URL+path, "shared-read-secret", "", nil); a.code != 200 {
			t.Errorf("GET %s with the read token: %d %.200s", path, a.code, a.body)
		}
		if a := do(t, "GET", ts.URL+path, read, "", nil); a.code != 200 {
			t.Errorf("GET %s with a read-scoped token: %d", path, a.code)
		}
	}
	// A browser sends the token as a Basic auth password.
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.SetBasicAuth("me", read)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("Basic auth with a read token: %d", resp.StatusCode)
	}
	if a := do(t, "GET", ts.URL+"/healthz", "", "", nil); a.code != 200 {
		t.Errorf("healthz needs no token: %d", a.code)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "127.1.2.3:9": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:80": false, "10.0.0.1:80": false, "example.com:80": false, "nonsense": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %t", addr, got)
		}
	}
}

// On shutdown (SIGTERM's context) the server takes no new request and an
// ingest in flight finishes: its build is stored whole.
func TestGracefulShutdown(t *testing.T) {
	s := openSQLite(t)
	srv, err := New(s, Config{ReadOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	tok, _ := token(t, s, "shop", store.ScopeIngest, time.Time{})
	log := fixture(t, probe+"plain-cold.log")

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/api/v1/builds", pr)
	req.Header.Set("Authorization", "Bearer "+tok)
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{code: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		answered <- answer{code: resp.StatusCode, body: data}
	}()
	pw.Write(log[:len(log)/2])
	time.Sleep(200 * time.Millisecond) // the request is being read
	cancel()
	time.Sleep(200 * time.Millisecond) // Shutdown has closed the listener
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("a new request was served during shutdown")
	}
	pw.Write(log[len(log)/2:])
	pw.Close()
	a := <-answered
	if a.code != 201 {
		t.Fatalf("the ingest in flight: %d %s", a.code, a.body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if n := countBuilds(t, s); n != 1 {
		t.Fatalf("%d builds stored, want the one in flight", n)
	}
}

// The same log sent by many jobs at once is stored once: one 201, the
// others 200 with the same id.
func TestConcurrentSameLog(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			ts := start(t, s, Config{ReadOpen: true})
			tok, _ := token(t, s, "shop", store.ScopeIngest, time.Time{})
			log := fixture(t, probe+"plain-warm.log")
			const n = 12
			answers := make(chan answer, n)
			for range n {
				go func() { answers <- do(t, "POST", ts.URL+"/api/v1/builds", tok, "", log) }()
			}
			created, ids := 0, map[int64]bool{}
			for range n {
				a := <-answers
				switch a.code {
				case 201:
					created++
				case 200:
				default:
					t.Fatalf("%d %s", a.code, a.body)
				}
				ids[stored(t, a).ID] = true
			}
			if created != 1 || len(ids) != 1 || countBuilds(t, s) != 1 {
				t.Fatalf("%d created, ids %v, %d builds stored; want one", created, ids, countBuilds(t, s))
			}
		})
	}
}
