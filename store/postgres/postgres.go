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
	"slices"
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
// messages: in doubt it masks more, never less.
func Redact(target string) string {
	spans := secretSpans(target)
	if len(spans) == 0 {
		return target
	}
	var sb strings.Builder
	last := 0
	for _, sp := range spans {
		sb.WriteString(target[last:sp[0]])
		sb.WriteString("xxxxx")
		last = sp[1]
	}
	sb.WriteString(target[last:])
	return sb.String()
}

var (
	paramPassword = regexp.MustCompile(`[?&]password=([^&#]*)`)
	kvPassword    = regexp.MustCompile(`(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]*)`)
)

// secretSpans finds where passwords are written in a target: [start, end)
// byte offsets, in order, not overlapping.
func secretSpans(target string) [][2]int {
	var spans [][2]int
	if i := strings.Index(target, "://"); i >= 0 {
		// The userinfo ends at the last "@": a password may hold an
		// unescaped "@", "/" or "?", and masking too much is safe.
		rest := i + 3
		if at := strings.LastIndexByte(target[rest:], '@'); at >= 0 {
			if colon := strings.IndexByte(target[rest:rest+at], ':'); colon >= 0 {
				spans = append(spans, [2]int{rest + colon + 1, rest + at})
			}
		}
		for _, m := range paramPassword.FindAllStringSubmatchIndex(target, -1) {
			spans = append(spans, [2]int{m[2], m[3]})
		}
	} else {
		for _, m := range kvPassword.FindAllStringSubmatchIndex(target, -1) {
			spans = append(spans, [2]int{m[2], m[3]})
		}
	}
	// Drop empty spans and spans inside an earlier one.
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var out [][2]int
	for _, sp := range spans {
		if sp[1] <= sp[0] {
			continue
		}
		if n := len(out); n > 0 && sp[0] < out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	return out
}

// secretsOf is every password written in a target, as written and
// decoded, longest first: what error messages are scrubbed of.
func secretsOf(target string) []string {
	var out []string
	for _, sp := range secretSpans(target) {
		sec := target[sp[0]:sp[1]]
		out = append(out, sec)
		if d, err := url.PathUnescape(sec); err == nil && d != sec {
			out = append(out, d)
		}
		if d, err := url.QueryUnescape(sec); err == nil && d != sec {
			out = append(out, d)
		}
		if strings.HasPrefix(sec, "'") {
			out = append(out, strings.ReplaceAll(strings.ReplaceAll(strings.Trim(sec, "'"), `\'`, `'`), `\\`, `\`))
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
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
		slices.SortFunc(s.secrets, func(a, b string) int { return len(b) - len(a) })
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
		case strings.HasPrefix(pe.Code, "28"):
			return fmt.Errorf("%s: %w: %s refused the login: %s (SQLSTATE %s); check the role and its password",
				op, store.ErrUnavailable, s.target, pe.Message, pe.Code)
		case strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "53"):
			return s.lost(op, pe.Message+" (SQLSTATE "+pe.Code+")")
		}
		return fmt.Errorf("%s: %s: %v", op, s.target, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		var pe *pgconn.PgError
		if errors.As(ce, &pe) {
			return s.classify(op, pe)
		}
		return fmt.Errorf("%s: %w: cannot connect to %s: %s; check the URL and that the server is running",
			op, store.ErrUnavailable, s.target, connectReason(ce))
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool") {
		return s.lost(op, err.Error())
	}
	return fmt.Errorf("%s: %s: %w", op, s.target, err)
}

// connectReason is why a connection failed, without pgx's prefix (which
// names the user and database the message already names).
func connectReason(ce *pgconn.ConnectError) string {
	if u := errors.Unwrap(ce); u != nil {
		return u.Error()
	}
	return ce.Error()
}

// lost is the one message for a server that went away during a command
// (shut down, restarted, crashed, the network gone).
func (s *Store) lost(op, why string) error {
	return fmt.Errorf("%s: %w: the connection to %s was lost (%s); a build is stored whole or not at all and "+
		"builds already stored are skipped, so run the command again when the server is back", op, store.ErrUnavailable, s.target, why)
}
