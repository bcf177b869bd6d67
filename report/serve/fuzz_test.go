package serve

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// FuzzIngest sends arbitrary bodies, encodings and query strings to POST
// /api/v1/builds: the answer is always 200 or 201 with a stored build, or a
// 4xx with a JSON error, never a 5xx or a panic; a body over the limit is
// never stored.
func FuzzIngest(f *testing.F) {
	for _, name := range []string{"plain-cold.log", "plain-warm.log", "docker-plain-multistage-nocache.log"} {
		data, err := os.ReadFile(storetest.Probe(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false, "branch=main&commit=abc")
		f.Add(gzipped(data), true, "time=2026-01-31&tag=a&tag=b")
		f.Add(data[:len(data)/3], false, "format=plain")
	}
	f.Add([]byte("Step 1/2 : FROM alpine\n ---> abc\n"), false, "format=legacy")
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, true, "")
	f.Add([]byte("{\"vertexes\":[{\"digest\":\"x\"}]}\n"), false, "keep_logs=true")
	f.Add([]byte("#1 [internal] load\n#1 DONE 0.1s\n"), false, "project=other")

	s := openSQLite(f)
	const max = 64 << 10
	srv, err := New(s, Config{ReadOpen: true, MaxBody: max})
	if err != nil {
		f.Fatal(err)
	}
	tok, _ := token(f, s, "shop", store.ScopeIngest, time.Time{})
	f.Fuzz(func(t *testing.T, body []byte, gz bool, query string) {
		req := httptest.NewRequest("POST", "/api/v1/builds", bytes.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+tok)
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		switch code := w.Code; {
		case code == 200 || code == 201:
			var st Stored
			if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.ID <= 0 || len(st.IDs) == 0 {
				t.Fatalf("%d answer %q", code, w.Body.Bytes())
			}
			if !gz && len(body) > max {
				t.Fatalf("a %d-byte body over the %d limit was stored", len(body), max)
			}
		case code >= 400 && code < 500:
			var e errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%d answer %q is not a JSON error", code, w.Body.Bytes())
			}
		default:
			t.Fatalf("answer %d %q", code, w.Body.Bytes())
		}
	})
}
