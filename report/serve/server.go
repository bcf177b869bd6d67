// Package serve is buildstats serve: a team's build dashboard over a
// history, and the endpoint CI runners send build logs to.
//
// Pages are rendered on the server and work without JavaScript; they load
// nothing from another origin and carry a strict Content-Security-Policy.
// The JSON API under /api/v1/ answers with the CLI's --format json
// contracts. Writes need a token of the build's project; reads are open or
// need a read token, as the command decides (see Config.ReadOpen). The
// package talks to the history through store.Store and store.TokenStore
// only, and builds without cgo.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/store"
)

// DefaultMaxBody is the largest build log POST /api/v1/builds accepts,
// after decompression.
const DefaultMaxBody = 256 << 20

// Config tunes a Server.
type Config struct {
	// MaxBody is the largest log accepted, in bytes after decompression;
	// 0 is DefaultMaxBody.
	MaxBody int64
	// ReadOpen lets anyone read pages and the API; otherwise a read needs
	// ReadToken or a token of read scope.
	ReadOpen bool
	// ReadToken is a shared secret that reads (--read-token); "" for none.
	ReadToken string
	// Mask masks secrets in what is stored and shown; nil masks with the
	// built-in patterns, redact.None() masks nothing.
	Mask *redact.Redactor
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log receives one line per failed request (a store error); nil
	// drops them.
	Log func(format string, args ...any)
}

// Server serves one history.
type Server struct {
	s       store.Store
	tokens  store.TokenStore
	cfg     Config
	mux     *http.ServeMux
	metrics *metrics
	batch   *batcher
}

// New returns a server of s, which must also be a store.TokenStore (both
// stores are).
func New(s store.Store, cfg Config) (*Server, error) {
	ts, ok := s.(store.TokenStore)
	if !ok {
		return nil, fmt.Errorf("the history %T keeps no tokens", s)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Mask == nil {
		cfg.Mask = redact.New(redact.Options{})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	srv := &Server{s: s, tokens: ts, cfg: cfg, mux: http.NewServeMux(), metrics: newMetrics(), batch: newBatcher(s)}
	srv.routes()
	return srv, nil
}

func (srv *Server) routes() {
	m := srv.mux
	m.HandleFunc("GET /healthz", srv.healthz)
	m.Handle("GET /metrics", srv.reads(srv.metrics.handler()))
	m.HandleFunc("POST /api/v1/builds", srv.postBuild)
	m.Handle("GET /api/v1/builds", srv.reads(http.HandlerFunc(srv.apiBuilds)))
	m.Handle("GET /api/v1/builds/{id}", srv.reads(http.HandlerFunc(srv.apiBuild)))
	m.Handle("GET /api/v1/compare", srv.reads(http.HandlerFunc(srv.apiCompare)))
	m.Handle("GET /api/v1/trends", srv.reads(http.HandlerFunc(srv.apiTrends)))
	m.Handle("GET /api/v1/slow", srv.reads(http.HandlerFunc(srv.apiSlow)))
	m.Handle("GET /api/v1/misses", srv.reads(http.HandlerFunc(srv.apiMisses)))
	m.Handle("GET /{$}", srv.reads(http.HandlerFunc(srv.pageBuilds)))
	m.Handle("GET /builds/{id}", srv.reads(http.HandlerFunc(srv.pageBuild)))
	m.Handle("GET /compare", srv.reads(http.HandlerFunc(srv.pageCompare)))
	m.Handle("GET /trends", srv.reads(http.HandlerFunc(srv.pageTrends)))
	m.Handle("GET /slow", srv.reads(http.HandlerFunc(srv.pageSlow)))
	m.Handle("GET /misses", srv.reads(http.HandlerFunc(srv.pageMisses)))
}

// pageCSP is every page's policy: nothing from anywhere but inline styles
// and data: images; forms only to this server.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP implements http.Handler.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	srv.mux.ServeHTTP(w, r)
}

// reads lets a request through when reads are open or it carries the read
// token or a token of read scope (as a bearer token, or a Basic auth
// password so a browser can ask for it).
func (srv *Server) reads(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if srv.cfg.ReadOpen {
			h.ServeHTTP(w, r)
			return
		}
		text := presented(r)
		ok := false
		var err error
		switch {
		case text == "":
			err = errNoToken
		case srv.cfg.ReadToken != "" && equalSecret(text, srv.cfg.ReadToken):
			ok = true
		default:
			var t store.Token
			t, err = checkToken(r.Context(), srv.tokens, text, srv.cfg.Now())
			if err == nil && t.Scope != store.ScopeRead {
				err = errForbidden
			}
			ok = err == nil
		}
		if !ok {
			if !errors.Is(err, errForbidden) {
				w.Header().Set("WWW-Authenticate", `Basic realm="buildstats", charset="UTF-8"`)
			}
			srv.authError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// presented is the token a request carries: "Authorization: Bearer T",
// or T as the password of Basic auth.
func presented(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(a, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	if _, p, ok := r.BasicAuth(); ok {
		return p
	}
	return ""
}

// authError answers 401 or 403 for err, 503 for a store error.
func (srv *Server) authError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNoToken), errors.Is(err, errBadToken):
		writeError(w, http.StatusUnauthorized, err.Error())
	case errors.Is(err, errForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	default:
		srv.storeError(w, err)
	}
}

// storeError answers a history that failed: 503 when it is unavailable
// or locked (try again), else 500. The details go to the log, not the
// client.
func (srv *Server) storeError(w http.ResponseWriter, err error) {
	if srv.cfg.Log != nil {
		srv.cfg.Log("%v", err)
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrLocked) {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the build history is unavailable; try again")
		return
	}
	writeError(w, http.StatusInternalServerError, "the build history failed to answer")
}

func (srv *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// Limits of every connection: headers, and times against slow clients.
const (
	MaxHeaderBytes    = 64 << 10
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds a whole request: a 256 MiB log at 1 MB/s.
	ReadTimeout  = 5 * time.Minute
	WriteTimeout = 5 * time.Minute
	IdleTimeout  = 2 * time.Minute
	// ShutdownTimeout is how long in-flight requests get to finish.
	ShutdownTimeout = time.Minute
)

// Serve serves on ln until ctx is done, then stops taking requests and
// lets those in flight (an ingest) finish, for up to ShutdownTimeout.
func (srv *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           srv,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// IsLoopback reports whether addr (host:port) listens on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
