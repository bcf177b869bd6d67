// Package postgres is the build history in a PostgreSQL database: one
// history every CI runner writes to and everyone reads, behind the same
// store.Store as the embedded SQLite one, passing the same conformance
// suite (store/storetest).
//
// It speaks pgx's native interface through a small connection pool. A
// build is stored in one transaction: its row by an INSERT that does
// nothing when its content hash is already stored, its vertices, transfers
// and kept output with COPY, and its share of the per-day rollups by
// upserts, so any number of processes can ingest at once. A store opened
// read-only never runs DDL and never writes: it works with a role that may
// only SELECT.
//
// The schema is versioned like SQLite's: a writer creates or upgrades it
// under an advisory lock (many CI jobs may start at once on a new
// database), a reader refuses an older schema, and both refuse a newer one.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/buildstats/buildstats/store"
)

// Options tune Open.
type Options struct {
	// ReadOnly opens an existing history without ever writing to it: the
	// connections' transactions are read-only, no DDL or migration runs, a
	// missing or empty database is store.ErrNoHistory and an older schema
	// store.ErrSchemaTooOld.
	ReadOnly bool
	// MaxConns bounds the connection pool (default 4).
	MaxConns int32
	// LockTimeout is how long a write waits for a lock another session
	// holds (a prune, a schema upgrade, the same build being stored) before
	// failing with store.ErrLocked (default 10 s, as SQLite's busy
	// timeout). A lock_timeout in the URL wins.
	LockTimeout time.Duration
}

// DefaultLockTimeout is Options.LockTimeout's default.
const DefaultLockTimeout = 10 * time.Second

// Store is the PostgreSQL store. It is safe for concurrent use, and any
// number of processes may use one database.
type Store struct {
	pool     *pgxpool.Pool
	target   string // redacted, for messages
	secrets  []string
	readOnly bool

	// Committed project, branch and step ids, valid while the database's
	// prune count is pruned: a prune deletes unused ones.
	mu     sync.Mutex
	names  map[nameKey]int64
	steps  map[stepKey]stepVal
	pruned int64
}

var _ store.Store = (*Store)(nil)

// IsURL reports whether target names a PostgreSQL database rather than an
// SQLite file: a postgres:// or postgresql:// URL, or a keyword/value
// connection string ("host=db dbname=buildstats").
func IsURL(target string) bool {
	t := strings.TrimSpace(target)
	lower := strings.ToLower(t)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return true
	}
	return kvStart.MatchString(t)
}

// kvStart is the start of a libpq keyword/value connection string: a known
// keyword and "=". A file named like that needs "./" in front.
var kvStart = regexp.MustCompile(`^(host|hostaddr|port|dbname|user|password|passfile|sslmode|service|application_name|connect_timeout|options|target_session_attrs)\s*=`)

// Redact returns target with every password in it replaced by "xxxxx":
// the userinfo of a URL, a password query parameter, a password keyword.
// It works on malformed targets too, which is when they end up in error
// messages.
func Redact(target string) string {
	out := target
	for _, s := range secretsOf(target) {
		out = strings.ReplaceAll(out, s, "xxxxx")
	}
	return out
}

var (
	urlPassword   = regexp.MustCompile(`^(?i:postgres(?:ql)?)://[^/?#@]*?:([^@/?#]*)@`)
	paramPassword = regexp.MustCompile(`[?&]password=([^&#]*)`)
	kvPassword    = regexp.MustCompile(`(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]*)`)
)

// secretsOf finds the passwords written in a target, raw and decoded.
func secretsOf(target string) []string {
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
		if d, err := url.QueryUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
	}
	if m := urlPassword.FindStringSubmatch(target); m != nil {
		add(m[1])
	}
	for _, m := range paramPassword.FindAllStringSubmatch(target, -1) {
		add(m[1])
	}
	if !strings.Contains(target, "://") {
		for _, m := range kvPassword.FindAllStringSubmatch(target, -1) {
			v := m[1]
			if strings.HasPrefix(v, "'") {
				add(v)
				v = strings.ReplaceAll(strings.Trim(v, "'"), `\'`, `'`)
			}
			add(v)
		}
	}
	// Longest first, so a password that contains another is replaced whole.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Open connects to the database target names (a postgres:// URL or a
// keyword/value string) and checks its schema: with o.ReadOnly it must be
// this version; otherwise it is created or upgraded. The returned errors
// name the target with its password redacted.
func Open(ctx context.Context, target string, o Options) (*Store, error) {
	s := &Store{target: Redact(target), secrets: secretsOf(target), readOnly: o.ReadOnly,
		names: map[nameKey]int64{}, steps: map[stepKey]stepVal{}}
	cfg, err := pgxpool.ParseConfig(target)
	if err != nil {
		// pgx's own message may quote the string: only redacted text leaves.
		return nil, s.scrubbed(fmt.Errorf("open build history: %s is not a PostgreSQL connection URL or string: %w", s.target, err))
	}
	if cfg.ConnConfig.Password != "" {
		s.secrets = append(s.secrets, cfg.ConnConfig.Password) // from the URL, PGPASSWORD or a passfile
	}
	cfg.MaxConns = 4
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	rt := cfg.ConnConfig.RuntimeParams
	if rt["application_name"] == "" {
		rt["application_name"] = "buildstats"
	}
	if rt["lock_timeout"] == "" {
		lt := o.LockTimeout
		if lt <= 0 {
			lt = DefaultLockTimeout
		}
		rt["lock_timeout"] = fmt.Sprint(lt.Milliseconds())
	}
	if o.ReadOnly {
		// The server, not just this package, refuses any write.
		rt["default_transaction_read_only"] = "on"
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, s.wrap("open build history", err)
	}
	if err := s.init(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// Target is the database's name for messages, its password redacted.
func (s *Store) Target() string { return s.target }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool exposes the connection pool for tests and maintenance tools.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// errReadOnly is returned by writes to a store opened with ReadOnly.
var errReadOnly = errors.New("the build history was opened read-only")

// redactedError carries an error whose text had passwords removed; Unwrap
// still reaches the original for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrubbed removes this store's passwords from err's text.
func (s *Store) scrubbed(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, sec := range s.secrets {
		clean = strings.ReplaceAll(clean, sec, "xxxxx")
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// wrap turns database errors into the store's errors, with a message that
// says what happened to which database and what to do; the database's
// password never appears in it.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return s.scrubbed(s.classify(op, err))
}

func (s *Store) classify(op string, err error) error {
	for _, e := range []error{store.ErrNotFound, store.ErrNotDatabase, store.ErrSchemaTooNew, store.ErrSchemaTooOld,
		store.ErrLocked, store.ErrNoHistory, store.ErrUnwritable, store.ErrUnavailable} {
		if errors.Is(err, e) {
			return fmt.Errorf("%s: %w", op, err) // already explained
		}
	}
	if errors.Is(err, errReadOnly) {
		return fmt.Errorf("%s: %w: %v", op, store.ErrUnwritable, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "55P03" || pe.Code == "57014" && strings.Contains(pe.Message, "lock timeout"):
			return fmt.Errorf("%s: %w: another session held a lock on %s for longer than the lock timeout (%s); try again when it has finished",
				op, store.ErrLocked, s.target, pe.Message)
		case pe.Code == "42501":
			if s.readOnly {
				return fmt.Errorf("%s: %w: the role may not read the build history in %s (%s); grant it SELECT on the tables (see README)",
					op, store.ErrUnavailable, s.target, pe.Message)
			}
			return fmt.Errorf("%s: %w: the role may not write to %s (%s); store builds as the role that owns the tables",
				op, store.ErrUnwritable, s.target, pe.Message)
		case pe.Code == "25006":
			return fmt.Errorf("%s: %w: %s only accepts reads (%s)", op, store.ErrUnwritable, s.target, pe.Message)
		case pe.Code == "53100":
			return fmt.Errorf("%s: %w: the disk of the server of %s is full (%s)", op, store.ErrUnwritable, s.target, pe.Message)
		case pe.Code == "3D000":
			if s.readOnly {
				return fmt.Errorf("%w in %s (%s): create the database and store builds first (see README)", store.ErrNoHistory, s.target, pe.Message)
			}
			return fmt.Errorf("%s: %w: %s (%s); create the database first (see README)", op, store.ErrUnavailable, s.target, pe.Message)
		case strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "28") || strings.HasPrefix(pe.Code, "57P") ||
			strings.HasPrefix(pe.Code, "53"):
			return s.unavailable(op, pe.Message+" (SQLSTATE "+pe.Code+")")
		}
		return fmt.Errorf("%s: %s: %v", op, s.target, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return s.unavailable(op, "cannot connect: "+connectReason(ce))
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool") {
		return s.unavailable(op, "the connection was lost: "+err.Error())
	}
	return fmt.Errorf("%s: %s: %w", op, s.target, err)
}

// connectReason is the innermost reason a connection failed.
func connectReason(ce *pgconn.ConnectError) string {
	var pe *pgconn.PgError
	if errors.As(ce, &pe) {
		return pe.Message + " (SQLSTATE " + pe.Code + ")"
	}
	if u := errors.Unwrap(ce); u != nil {
		return u.Error()
	}
	return ce.Error()
}

// unavailable is the one message for a server that cannot be used now.
func (s *Store) unavailable(op, why string) error {
	return fmt.Errorf("%s: %w: %s: %s; a build is stored whole or not at all, and builds already stored are skipped, "+
		"so run the command again when the server is back", op, store.ErrUnavailable, s.target, why)
}
