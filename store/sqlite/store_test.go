package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// checkIntegrity fails t unless the database passes CheckIntegrity.
func checkIntegrity(t testing.TB, s *Store) {
	t.Helper()
	if err := s.CheckIntegrity(storetest.Ctx); err != nil {
		t.Fatal(err)
	}
}

// The SQLite store passes the conformance suite.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "history.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// What is stored, seen in the tables: no output tails without KeepLogs,
// and NULL (not "" or 0) where a log has no source or layer sizes.
func TestStorageOfLogsAndLiveBuilds(t *testing.T) {
	s, _ := openTemp(t)
	storetest.IngestFixtures(t, s)
	var outputs int
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertex_output v JOIN builds b ON b.id = v.build_id WHERE b.logs_kept = 0`).Scan(&outputs)
	if outputs != 0 {
		t.Errorf("%d output tails stored without --keep-logs", outputs)
	}
	var logSources, logLayers, empty, sized int
	s.DB().QueryRow(`SELECT COUNT(build_source) FROM builds WHERE content_hash NOT LIKE '%:live'`).Scan(&logSources)
	s.DB().QueryRow(`SELECT COUNT(v.layer_bytes) FROM vertices v JOIN builds b ON b.id = v.build_id
		WHERE b.content_hash NOT LIKE '%:live'`).Scan(&logLayers)
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertices WHERE layer_bytes = 0`).Scan(&empty)
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertices WHERE layer_bytes > 0`).Scan(&sized)
	if logSources != 0 || logLayers != 0 {
		t.Errorf("logs stored %d sources and %d layer sizes", logSources, logLayers)
	}
	if empty == 0 || sized == 0 {
		t.Errorf("live builds stored %d empty and %d sized layers: the test tests nothing", empty, sized)
	}
	checkIntegrity(t, s)
}

func TestFileMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "buildstats")
	path := filepath.Join(dir, "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p"})
	for _, p := range []string{path, path + "-wal"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", st.Mode().Perm())
	}
	s.Close()
	// Reopening keeps the data and the schema version.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, _ := s.History(storetest.Ctx, store.HistoryQuery{}); len(h) != 1 {
		t.Errorf("history after reopen: %+v", h)
	}
}
