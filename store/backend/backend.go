// Package backend opens a build history by the name people give it: a
// postgres:// or postgresql:// URL (or a libpq keyword/value string) for
// a shared PostgreSQL history, anything else a file path for SQLite, the
// embedded default. It is the one place that knows every store
// implementation; commands name a history and a mode, and get a
// store.Store. It also copies histories between stores (Copy).
package backend

import (
	"context"
	"errors"
	"os"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/postgres"
	"github.com/buildstats/buildstats/store/sqlite"
)

// Mode says what a command will do with the history.
type Mode int

const (
	// Read opens an existing history without ever writing to it: a missing
	// or empty one is store.ErrNoHistory, an older schema
	// store.ErrSchemaTooOld, and writes fail with store.ErrUnwritable. On
	// PostgreSQL it needs only SELECT.
	Read Mode = iota
	// Write opens a history to store builds in, creating it (and upgrading
	// its schema) when needed. A PostgreSQL database must exist; its
	// tables are created by the first writer.
	Write
)

// IsPostgres reports whether target names a PostgreSQL database.
func IsPostgres(target string) bool { return postgres.IsURL(target) }

// Open opens the history named by target in mode. Errors name the target
// as Describe does.
func Open(ctx context.Context, target string, mode Mode) (store.Store, error) {
	if target == "" {
		return nil, errors.New("open build history: no database named")
	}
	if IsPostgres(target) {
		return postgres.Open(ctx, target, postgres.Options{ReadOnly: mode == Read})
	}
	return sqlite.OpenWith(target, sqlite.Options{ReadOnly: mode == Read})
}

// Describe names target for messages, help texts and logs: a PostgreSQL
// URL or string with every password replaced by "xxxxx", a file path as it
// is.
func Describe(target string) string {
	if IsPostgres(target) {
		return postgres.Redact(target)
	}
	return target
}

// Exists reports whether the history target names is there to open, so a
// command can refuse an unusable one before long work without creating a
// missing one. A server database always exists as far as this can tell.
func Exists(target string) bool {
	if IsPostgres(target) {
		return true
	}
	_, err := os.Stat(target)
	return err == nil
}
