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
		body := append(append([]byte{}, logs[i%len(logs)]...), strings.Repeat("\n", i/len(logs)+1)...)
		req := httptest.NewRequest("POST", "/api/v1/builds", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != 201 {
			b.Fatalf("%d %s", w.Code, w.Body.Bytes())
		}
	}
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
		body := append(append([]byte{}, logs[i%len(logs)]...), strings.Repeat("\n", i/len(logs)+1)...)
		req := httptest.NewRequest("POST", fmt.Sprintf("/api/v1/builds?branch=b%d", i%3), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		srv.ServeHTTP(httptest.NewRecorder(), req)
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
