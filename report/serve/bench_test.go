package serve

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/store"
)

// BenchmarkIngest sends real logs (each made distinct) to POST
// /api/v1/builds of a server on SQLite, one after another.
func BenchmarkIngest(b *testing.B) {
	logs, _ := realLogs(b, 20)
	s := openSQLite(b)
	srv, err := New(s, Config{ReadOpen: true})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := token(b, s, "shop", store.ScopeIngest, time.Time{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := postDistinct(srv, tok, logs, i, "/api/v1/builds"); w.Code != 201 {
			b.Fatalf("%d %s", w.Code, w.Body.Bytes())
		}
	}
}

// postDistinct sends the i-th of logs, over and over, each copy made
// distinct by trailing blank lines, as an ingest token's holder.
func postDistinct(srv *Server, tok string, logs [][]byte, i int, target string) *httptest.ResponseRecorder {
	body := append(append([]byte{}, logs[i%len(logs)]...), strings.Repeat("\n", i/len(logs)+1)...)
	req := httptest.NewRequest("POST", target, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	return w
}

// BenchmarkBuildsPage renders the builds page of a history of 1,000 real
// builds.
func BenchmarkBuildsPage(b *testing.B) {
	logs, _ := realLogs(b, 20)
	s := openSQLite(b)
	srv, err := New(s, Config{ReadOpen: true})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := token(b, s, "shop", store.ScopeIngest, time.Time{})
	for i := 0; i < 200; i++ {
		postDistinct(srv, tok, logs, i, fmt.Sprintf("/api/v1/builds?branch=b%d", i%3))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
