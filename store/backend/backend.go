// Package backend opens a build history by the name people give it: a file
// path for SQLite, the embedded default. It is the one place that knows
// every store implementation; commands name a history and a mode, and get a
// store.Store.
package backend

import (
	"context"
	"errors"
	"os"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

// Mode says what a command will do with the history.
type Mode int

const (
	// Read opens an existing history without ever writing to it: a missing
	// or empty one is store.ErrNoHistory, an older schema
	// store.ErrSchemaTooOld, and writes fail with store.ErrUnwritable.
	Read Mode = iota
	// Write opens a history to store builds in, creating it (and upgrading
	// its schema) when needed.
	Write
)

// Open opens the history named by target in mode.
func Open(ctx context.Context, target string, mode Mode) (store.Store, error) {
	if target == "" {
		return nil, errors.New("open build history: no database named")
	}
	return sqlite.OpenWith(target, sqlite.Options{ReadOnly: mode == Read})
}

// Describe names target for messages.
func Describe(target string) string { return target }

// Exists reports whether the history target names is there to open, so a
// command can refuse an unusable one before long work without creating a
// missing one. A server database always exists as far as this can tell.
func Exists(target string) bool {
	_, err := os.Stat(target)
	return err == nil
}
