package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/postgres/pgtest"
	"github.com/buildstats/buildstats/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openNew opens a fresh database as the writer role.
func openNew(t testing.TB) (*Store, pgtest.Database) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	s, err := Open(context.Background(), db.Writer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, db
}

// checkIntegrity fails t unless the database passes CheckIntegrity.
func checkIntegrity(t testing.TB, s *Store) {
	t.Helper()
	if err := s.CheckIntegrity(storetest.Ctx); err != nil {
		t.Fatal(err)
	}
}

// The PostgreSQL store passes the conformance suite, unchanged.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db := pgtest.NewDatabase(t)
		s, err := Open(context.Background(), db.Writer, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Reading a build takes one pooled connection at a time: with a pool of
// one it does not wait for itself (as many concurrent reads as the pool
// has connections used to deadlock a server).
func TestBuildWithPoolOfOne(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s, err := Open(context.Background(), db.Writer, Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := s.Build(ctx, id); err != nil {
		t.Fatalf("Build with a pool of one connection: %v", err)
	}
}
