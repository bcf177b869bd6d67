package backend

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/postgres"
	"github.com/buildstats/buildstats/store/postgres/pgtest"
	"github.com/buildstats/buildstats/store/sqlite"
	"github.com/buildstats/buildstats/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// open opens target in mode or fails t; the store is closed when t ends.
func open(t testing.TB, target string, mode Mode) store.Store {
	t.Helper()
	s, err := Open(ctx, target, mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Targets go to the store they name; Describe hides passwords.
func TestOpenAndDescribe(t *testing.T) {
	for target, pg := range map[string]bool{
		"history.db":                       false,
		"/var/lib/buildstats/history.db":   false,
		"./host=db":                        false,
		"postgres://ci:pw@db/buildstats":   true,
		"postgresql://db/buildstats":       true,
		"PostgreSQL://db/buildstats":       true,
		"host=db dbname=buildstats user=x": true,
		"dbname=buildstats":                true,
	} {
		if IsPostgres(target) != pg {
			t.Errorf("IsPostgres(%q) = %v", target, !pg)
		}
	}
	if got := Describe("postgres://ci:s3cret@db/buildstats?sslmode=require"); got != "postgres://ci:xxxxx@db/buildstats?sslmode=require" {
		t.Errorf("Describe = %q", got)
	}
	if got := Describe("host=db user=ci password=s3cret"); got != "host=db user=ci password=xxxxx" {
		t.Errorf("Describe = %q", got)
	}
	if got := Describe("/tmp/a:b@c/history.db"); got != "/tmp/a:b@c/history.db" {
		t.Errorf("Describe of a path = %q", got)
	}

	path := filepath.Join(t.TempDir(), "history.db")
	if _, err := Open(ctx, path, Read); !errors.Is(err, store.ErrNoHistory) {
		t.Errorf("read a missing SQLite file: %v", err)
	}
	if _, ok := open(t, path, Write).(*sqlite.Store); !ok {
		t.Error("a path did not open SQLite")
	}
	db := pgtest.NewDatabase(t)
	if _, err := Open(ctx, db.Reader, Read); !errors.Is(err, store.ErrNoHistory) || strings.Contains(err.Error(), pgtest.ReaderPassword) {
		t.Errorf("read an empty PostgreSQL database: %v", err)
	}
	if _, ok := open(t, db.Writer, Write).(*postgres.Store); !ok {
		t.Error("a URL did not open PostgreSQL")
	}
	if _, ok := open(t, db.Reader, Read).(*postgres.Store); !ok {
		t.Error("a URL did not open PostgreSQL")
	}
	if _, err := Open(ctx, "", Read); err == nil {
		t.Error("opened nothing")
	}
}

// fill stores a varied history: every fixture log (with and without kept
// logs, as live builds), and generated builds over several days.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	storetest.IngestFixtures(t, s)
	var items []store.BatchItem
	cfg := storetest.GenConfig{Builds: 200, Steps: 10, Projects: 3, Start: storetest.T0, Span: 5 * 24 * time.Hour, Seed: 21}
	storetest.GenHistory(cfg, func(b *model.Build, m store.Meta) error {
		items = append(items, store.BatchItem{Build: storetest.Clone(b), Meta: m})
		return nil
	})
	if _, err := s.IngestBatch(ctx, items); err != nil {
		t.Fatal(err)
	}
}

// sameBuilds checks that every build of a reads back from b exactly.
func sameBuilds(t *testing.T, a, b store.Reader) {
	t.Helper()
	ia, err := a.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := b.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byHash := map[string]int64{}
	for _, it := range ib {
		byHash[it.ContentHash] = it.ID
	}
	for _, it := range ia {
		ba, ma, err1 := a.Build(ctx, it.ID)
		bb, mb, err2 := b.Build(ctx, byHash[it.ContentHash])
		if err1 != nil || err2 != nil {
			t.Fatalf("build %s: %v, %v", it.ContentHash, err1, err2)
		}
		if !reflect.DeepEqual(ba, bb) || !reflect.DeepEqual(ma, mb) {
			t.Fatalf("build %s reads back differently from the copy:\n%+v\n%+v", it.ContentHash, ma, mb)
		}
	}
}

// SQLite to PostgreSQL and back: every build with its metadata and kept
// logs, verified; a second run copies nothing; every query answers alike.
func TestCopyBothWays(t *testing.T) {
	lite := open(t, filepath.Join(t.TempDir(), "history.db"), Write)
	fill(t, lite)
	db := pgtest.NewDatabase(t)
	pg := open(t, db.Writer, Write)

	// Server tokens: the one that works goes along, the revoked and the
	// expired ones stay behind.
	liteTokens := lite.(store.TokenStore)
	created := storetest.T0.Truncate(time.Millisecond).UTC()
	usable, err := liteTokens.CreateToken(ctx, store.Token{Project: "p", Scope: store.ScopeIngest, Name: "ci", Hash: strings.Repeat("a", 64),
		CreatedAt: created, ExpiresAt: time.Now().Add(90 * 24 * time.Hour).Truncate(time.Millisecond).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := liteTokens.CreateToken(ctx, store.Token{Scope: store.ScopeRead, Hash: strings.Repeat("b", 64), CreatedAt: created})
	if err := liteTokens.RevokeToken(ctx, revoked.ID, created.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	liteTokens.CreateToken(ctx, store.Token{Project: "p", Scope: store.ScopeIngest, Hash: strings.Repeat("c", 64), CreatedAt: created,
		ExpiresAt: created.Add(time.Hour)})

	progress := 0
	res, err := Copy(ctx, lite, pg, CopyOptions{BatchVertices: 3000, Progress: func(done, total int) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	inv, _ := lite.Inventory(ctx)
	vertices := 0
	for _, it := range inv {
		vertices += it.Vertices
	}
	if res.Builds != len(inv) || res.Copied != len(inv) || res.Present != 0 || res.Vertices != vertices || res.CopiedVertices != vertices ||
		res.TargetBuilds != len(inv) || !strings.HasPrefix(res.Checksum, "sha256:") || progress < 2 {
		t.Errorf("copy to PostgreSQL: %+v (%d progress calls); the source has %d builds, %d vertices", res, progress, len(inv), vertices)
	}
	again, err := Copy(ctx, lite, pg, CopyOptions{})
	if err != nil || again.Copied != 0 || again.Present != len(inv) || again.Checksum != res.Checksum || again.Tokens != 0 {
		t.Errorf("second copy: %+v %v", again, err)
	}
	pgTokens, err := pg.(store.TokenStore).Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tokens != 1 || len(pgTokens) != 1 {
		t.Errorf("copied %d tokens, the target has %+v; want the usable one only", res.Tokens, pgTokens)
	} else if got := pgTokens[0]; got.Hash != usable.Hash || got.Project != usable.Project || got.Scope != usable.Scope ||
		got.Name != usable.Name || !got.CreatedAt.Equal(usable.CreatedAt) || !got.ExpiresAt.Equal(usable.ExpiresAt) || !got.RevokedAt.IsZero() {
		t.Errorf("the copied token is %+v, want %+v", got, usable)
	}
	sameBuilds(t, lite, pg)
	storetest.SameAnswers(t, pg, lite, "PostgreSQL copy")

	// And back, from the read-only role, into a new SQLite file.
	ro := open(t, db.Reader, Read)
	back := open(t, filepath.Join(t.TempDir(), "back.db"), Write)
	res2, err := Copy(ctx, ro, back, CopyOptions{})
	if err != nil || res2.Copied != len(inv) || res2.Checksum != res.Checksum {
		t.Fatalf("copy back to SQLite: %+v %v", res2, err)
	}
	sameBuilds(t, pg, back)
	storetest.SameAnswers(t, back, lite, "SQLite copy of the copy")
	for _, s := range []store.Store{pg, back} {
		if c, ok := s.(interface{ CheckIntegrity(context.Context) error }); ok {
			if err := c.CheckIntegrity(ctx); err != nil {
				t.Error(err)
			}
		}
	}
}

// A target with builds of its own keeps them; one holding a build under
// the same content hash with other rows is refused before anything is
// written.
func TestCopyIntoAHistory(t *testing.T) {
	src := open(t, filepath.Join(t.TempDir(), "src.db"), Write)
	a := storetest.MustIngest(t, src, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p", Started: storetest.T0, ContentHash: "a"})
	storetest.MustIngest(t, src, storetest.ParseFixture(t, storetest.Probe("plain-warm.log")), store.Meta{Project: "p", Started: storetest.T0.Add(time.Hour), ContentHash: "b"})
	_ = a
	dst := open(t, pgtest.NewDatabase(t).Writer, Write)
	storetest.MustIngest(t, dst, storetest.ParseFixture(t, storetest.Probe("multistage-plain-cold.log")), store.Meta{Project: "q", Started: storetest.T0, ContentHash: "own"})
	res, err := Copy(ctx, src, dst, CopyOptions{})
	if err != nil || res.Copied != 2 || res.TargetBuilds != 3 {
		t.Errorf("copy into a history: %+v %v", res, err)
	}

	clash := open(t, filepath.Join(t.TempDir(), "clash.db"), Write)
	storetest.MustIngest(t, clash, storetest.ParseFixture(t, storetest.Probe("multistage-plain-warm.log")), store.Meta{Project: "p", Started: storetest.T0, ContentHash: "a"})
	before, _ := clash.Inventory(ctx)
	if _, err := Copy(ctx, src, clash, CopyOptions{}); !errors.Is(err, ErrCopyMismatch) || !strings.Contains(err.Error(), "nothing was copied") {
		t.Errorf("copy onto a different build with the same hash: %v", err)
	}
	if after, _ := clash.Inventory(ctx); store.Checksum(after) != store.Checksum(before) {
		t.Error("a refused copy wrote to the target")
	}
}
