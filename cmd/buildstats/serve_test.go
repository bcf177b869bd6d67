package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/cmd/internal/cli"
)

// freeAddr is a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A team's server: tokens are created, listed and revoked; serve starts
// on loopback and refuses a wider address with nothing protecting reads;
// ingest --server sends logs a CI job has and prints their pages; a
// revoked token sends nothing; SIGTERM's context stops the server.
func TestServeTokensAndIngest(t *testing.T) {
	h := newHistory(t)
	tok := strings.TrimSpace(h.ok("token", "create", "--project", "demo", "--expires", "30d", "--name", "ci").out)
	if !strings.HasPrefix(tok, "bst_1_") || len(tok) < 40 {
		t.Fatalf("token create printed %q", tok)
	}
	var list struct {
		SchemaVersion int `json:"schema_version"`
		Tokens        []struct {
			ID        int64   `json:"id"`
			Project   *string `json:"project"`
			Scope     string  `json:"scope"`
			State     string  `json:"state"`
			ExpiresAt string  `json:"expires_at"`
		} `json:"tokens"`
	}
	h.jsonOut(&list, "token", "list", "--format", "json")
	if list.SchemaVersion != 1 || len(list.Tokens) != 1 || list.Tokens[0].State != "active" || list.Tokens[0].Scope != "ingest" ||
		*list.Tokens[0].Project != "demo" || !strings.HasPrefix(list.Tokens[0].ExpiresAt, "2026-12-23") {
		t.Fatalf("token list: %+v", list)
	}
	if r := h.ok("token", "list"); strings.Contains(r.out, tok[6:]) {
		t.Fatal("token list shows the secret")
	}
	if r := h.run("token", "create"); r.code != 2 || !strings.Contains(r.err, "--project") {
		t.Errorf("token create without a project: exit %d %s", r.code, r.err)
	}
	if r := h.run("serve", "--addr", "0.0.0.0:0"); r.code != 2 || !strings.Contains(r.err, "--public-read") {
		t.Errorf("serve beyond loopback with open reads: exit %d %s", r.code, r.err)
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan int)
	go func() {
		wd, _ := os.Getwd()
		f := &cli.Factory{IO: cli.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, WorkDir: wd,
			Getenv: func(k string) string { return h.env[k] }, Now: time.Now}
		done <- Execute(ctx, f, []string{"serve", "--addr", addr})
	}()
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("the server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	r := run(t, nil, map[string]string{"BUILDSTATS_TOKEN": tok, "HOME": t.TempDir()}, false,
		"ingest", "--server", base, "--branch", "trunk", msWarmLog, msColdLog)
	if r.code != 0 || !strings.Contains(r.out, "stored as #1: "+base+"/builds/1") || !strings.Contains(r.out, "stored as #2: "+base+"/builds/2") {
		t.Fatalf("ingest --server: exit %d\n%s%s", r.code, r.out, r.err)
	}
	var rows []historyRow
	h.historyJSON(&rows, "history", "--format", "json")
	if len(rows) != 2 || rows[0].Project != "demo" || rows[0].Branch != "trunk" {
		t.Fatalf("history after ingest --server: %+v", rows)
	}
	resp, err := http.Get(base + "/api/v1/builds")
	if err != nil {
		t.Fatal(err)
	}
	var api struct {
		Builds []historyRow `json:"builds"`
	}
	json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if len(api.Builds) != 2 || api.Builds[0].ContentHash != rows[0].ContentHash {
		t.Errorf("GET /api/v1/builds: %+v", api.Builds)
	}

	// annotate --server annotates and sends the log too.
	env := ciEnv(t)
	env["BUILDSTATS_TOKEN"] = tok
	r = run(t, nil, env, false, "annotate", "--server", base, msNocacheLog)
	if r.code != 0 || !strings.Contains(r.err, "stored as #3: "+base+"/builds/3") {
		t.Fatalf("annotate --server: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if r := run(t, strings.NewReader("x"), env, false, "annotate", "--server", base, "-"); r.code != 2 || !strings.Contains(r.err, "standard input") {
		t.Errorf("annotate --server of stdin: exit %d %s", r.code, r.err)
	}

	h.ok("token", "revoke", "1")
	r = run(t, nil, nil, false, "ingest", "--server", base, "--token", tok, msColdLog)
	if r.code != 2 || !strings.Contains(r.err, "401") {
		t.Errorf("ingest with a revoked token: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if r := run(t, nil, nil, false, "ingest", "--server", base, msNocacheLog); r.code != 2 || !strings.Contains(r.err, "--token") {
		t.Errorf("ingest --server without a token: exit %d %s", r.code, r.err)
	}

	cancel()
	if code := <-done; code != 0 || !strings.Contains(out.String(), "Stopped.") {
		t.Errorf("serve after its context ended: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if n := countBuilds(t, h.db); n != 3 {
		t.Errorf("%d builds stored, want 3", n)
	}
}
