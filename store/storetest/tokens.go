package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/buildstats/buildstats/store"
)

// testTokens checks the access tokens of buildstats serve: stored as
// given, listed oldest first, revoked once, ids never reused.
func testTokens(t *testing.T, open Opener) {
	s := open(t)
	ts, ok := s.(store.TokenStore)
	if !ok {
		t.Fatalf("%T does not implement store.TokenStore", s)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if list, err := ts.Tokens(Ctx); err != nil || len(list) != 0 {
		t.Fatalf("Tokens of a new store: %v, %v; want none", list, err)
	}
	a, err := ts.CreateToken(Ctx, store.Token{Project: "shop", Scope: store.ScopeIngest, Name: "ci", Hash: "aa11", CreatedAt: now,
		ExpiresAt: now.Add(90 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ts.CreateToken(Ctx, store.Token{Scope: store.ScopeRead, Hash: "bb22", CreatedAt: now.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID <= 0 || b.ID <= a.ID {
		t.Fatalf("ids %d, %d: want positive and increasing", a.ID, b.ID)
	}
	got, err := ts.Token(Ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != a {
		t.Errorf("Token(%d) = %+v, want %+v", a.ID, got, a)
	}
	if !got.Usable(now) || got.Usable(now.Add(91*24*time.Hour)) {
		t.Errorf("token expiring in 90 days: usable now %t, in 91 days %t", got.Usable(now), got.Usable(now.Add(91*24*time.Hour)))
	}
	if _, err := ts.Token(Ctx, b.ID+100); !errors.Is(err, store.ErrTokenNotFound) {
		t.Errorf("Token of no token: %v, want ErrTokenNotFound", err)
	}
	revoked := now.Add(time.Hour)
	if err := ts.RevokeToken(Ctx, a.ID, revoked); err != nil {
		t.Fatal(err)
	}
	if err := ts.RevokeToken(Ctx, a.ID, revoked.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ts.RevokeToken(Ctx, b.ID+100, revoked); !errors.Is(err, store.ErrTokenNotFound) {
		t.Errorf("RevokeToken of no token: %v, want ErrTokenNotFound", err)
	}
	list, err := ts.Tokens(Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("Tokens = %+v, want a then b", list)
	}
	if !list[0].RevokedAt.Equal(revoked) || list[0].Usable(now) {
		t.Errorf("revoked token: revoked at %v (want %v, the first revocation), usable %t", list[0].RevokedAt, revoked, list[0].Usable(now))
	}
	if list[1].Project != "" || list[1].Scope != store.ScopeRead || !list[1].ExpiresAt.IsZero() || !list[1].Usable(now.AddDate(10, 0, 0)) {
		t.Errorf("read token read back as %+v", list[1])
	}
}
