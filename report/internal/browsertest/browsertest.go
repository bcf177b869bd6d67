// Package browsertest drives headless Chromium for the page tests of
// report/html and report/serve. It talks the DevTools protocol over
// --remote-debugging-pipe (JSON messages separated by NUL bytes on file
// descriptors 3 and 4), so it needs no client library and no network port.
package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const InstallHint = "install it with report/html/install-test-deps.sh (as root: apt-get update && apt-get install -y chromium), or set BUILDSTATS_CHROMIUM to a Chromium or Chrome binary"

// findChromium returns the browser to test with. Where there is none the
// test fails in CI (CI set) and is skipped elsewhere, both saying how to
// install it: a CI run must not pass without rendering the pages.
func Find(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BUILDSTATS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("headless Chromium not found, and CI is set so the browser test may not be skipped: %s", InstallHint)
	}
	t.Skipf("headless Chromium not found: %s (in CI this test fails instead)", InstallHint)
	return ""
}

// cdpMessage is a DevTools protocol message: a command, its response or
// an event.
type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type Browser struct {
	T      *testing.T
	cmd    *exec.Cmd
	w      io.WriteCloser
	mu     sync.Mutex
	nextID int64
	calls  map[int64]chan cdpMessage
	events chan cdpMessage
	done   chan struct{}
	stderr strings.Builder
}

// startBrowser starts headless Chromium with a fresh profile and every
// background service that would reach for the network turned off.
func Start(t *testing.T, warmURL string) *Browser {
	bin := Find(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	toChrome, chromeIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	chromeOut, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fds 3 and 4
	b := &Browser{T: t, cmd: cmd, w: chromeIn, calls: map[int64]chan cdpMessage{}, events: make(chan cdpMessage, 4096), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{b: &b.stderr, mu: &b.mu}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v (%s)", bin, err, InstallHint)
	}
	toChrome.Close()
	fromChrome.Close()
	go b.read(chromeOut)
	// The first page of a fresh browser pays for starting its renderer
	// process; load one so the pages under test are timed on their own.
	if warmURL != "" {
		b.Render(warmURL, "0")
	}
	t.Cleanup(func() {
		b.call("", "Browser.close", nil)
		chromeIn.Close()
		waited := make(chan struct{})
		go func() { cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			cancel()
			<-waited
		}
		cancel()
	})
	return b
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 1<<16 {
		w.b.Write(p)
	}
	return len(p), nil
}

func (b *Browser) read(r io.Reader) {
	defer close(b.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := strings.IndexByte(string(data), 0); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		var m cdpMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.calls[m.ID]
			delete(b.calls, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		select {
		case b.events <- m:
		default: // a flood of events must not block responses
		}
	}
}

// call sends a command and waits for its result.
func (b *Browser) call(session, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.calls[id] = ch
	b.mu.Unlock()
	p, _ := json.Marshal(params)
	if params == nil {
		p = []byte("{}")
	}
	msg, _ := json.Marshal(cdpMessage{ID: id, SessionID: session, Method: method, Params: p})
	if _, err := b.w.Write(append(msg, 0)); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		return m.Result, nil
	case <-b.done:
		return nil, fmt.Errorf("%s: browser exited; stderr:\n%s", method, b.stderrText())
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s: no answer in 30s", method)
	}
}

func (b *Browser) stderrText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// Must calls method and fails the test on an error.
func (b *Browser) Must(session, method string, params any) json.RawMessage {
	b.T.Helper()
	r, err := b.call(session, method, params)
	if err != nil {
		b.T.Fatal(err)
	}
	return r
}

// rendered is what a page load showed.
type Rendered struct {
	// Problems are console errors, uncaught exceptions, log entries of
	// level error (CSP violations, failed loads) and requests for
	// anything but the page itself.
	Problems []string
	// LoadMs is the page's load event end, LayoutMs the time a forced
	// full layout took after it, both measured by the browser.
	LoadMs, LayoutMs float64
	// DOM is the result of the page's check expression.
	DOM json.RawMessage
}

// Render loads url (a file:// or the test's http:// server) in a new tab, waits for its load event, lets it
// settle, and evaluates check (a JavaScript expression) in it.
func (b *Browser) Render(url, check string) Rendered {
	b.T.Helper()
	var r Rendered
	var target struct {
		TargetID string `json:"targetId"`
	}
	json.Unmarshal(b.Must("", "Target.createTarget", map[string]any{"url": "about:blank"}), &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	json.Unmarshal(b.Must("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}), &att)
	s := att.SessionID
	defer b.call("", "Target.closeTarget", map[string]any{"targetId": target.TargetID})
	for _, m := range []string{"Runtime.enable", "Log.enable", "Network.enable", "Page.enable"} {
		b.Must(s, m, nil)
	}
	b.Must(s, "Page.navigate", map[string]any{"url": url})

	deadline := time.After(30 * time.Second)
	loaded := false
	settle := time.After(time.Hour)
	for {
		select {
		case ev := <-b.events:
			if ev.SessionID != s {
				continue
			}
			if p := problem(ev, url); p != "" {
				r.Problems = append(r.Problems, p)
			}
			if ev.Method == "Page.loadEventFired" && !loaded {
				loaded = true
				settle = time.After(300 * time.Millisecond) // late console messages
			}
		case <-settle:
			var res struct {
				Result struct {
					Value json.RawMessage `json:"value"`
				} `json:"result"`
				ExceptionDetails *struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			}
			expr := `(() => {
				const nav = performance.getEntriesByType("navigation")[0];
				// Layout may still be pending after the load event: force
				// it and count its time too.
				const t0 = performance.now();
				document.body.getBoundingClientRect();
				const layout = performance.now() - t0;
				return {load: nav ? nav.loadEventEnd : -1, layout: layout, dom: (` + check + `)};
			})()`
			json.Unmarshal(b.Must(s, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}), &res)
			if res.ExceptionDetails != nil {
				b.T.Fatalf("check failed in the page: %s %s", res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
			}
			var v struct {
				Load, Layout float64
				DOM          json.RawMessage `json:"dom"`
			}
			if err := json.Unmarshal(res.Result.Value, &v); err != nil {
				b.T.Fatalf("check result %s: %v", res.Result.Value, err)
			}
			r.LoadMs, r.LayoutMs, r.DOM = v.Load, v.Layout, v.DOM
			return r
		case <-deadline:
			b.T.Fatalf("%s did not load in 30s; browser stderr:\n%s", url, b.stderrText())
		case <-b.done:
			b.T.Fatalf("browser exited; stderr:\n%s", b.stderrText())
		}
	}
}

// problem describes an event that shows the page misbehaving, or "".
func problem(ev cdpMessage, page string) string {
	origin := originOf(page)
	switch ev.Method {
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string            `json:"type"`
			Args []json.RawMessage `json:"args"`
		}
		json.Unmarshal(ev.Params, &p)
		if p.Type == "error" || p.Type == "warning" || p.Type == "assert" {
			return fmt.Sprintf("console.%s: %s", p.Type, p.Args)
		}
	case "Runtime.exceptionThrown":
		return "exception: " + string(ev.Params)
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Level, Source, Text, URL string
			} `json:"entry"`
		}
		json.Unmarshal(ev.Params, &p)
		if p.Entry.Level == "error" || p.Entry.Level == "warning" {
			return fmt.Sprintf("%s %s: %s %s", p.Entry.Level, p.Entry.Source, p.Entry.Text, p.Entry.URL)
		}
	case "Network.requestWillBeSent":
		var p struct {
			Request struct{ URL string } `json:"request"`
		}
		json.Unmarshal(ev.Params, &p)
		if u := p.Request.URL; u != page && !strings.HasPrefix(u, "data:") && u != "about:blank" && (origin == "" || originOf(u) != origin) {
			return "request for " + u
		}
	case "Network.loadingFailed":
		return "loading failed: " + string(ev.Params)
	}
	return ""
}

// originOf is the scheme://host of an http(s) URL; "" for any other (a
// file:// page may request nothing but itself).
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" && p.Scheme != "https" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}
