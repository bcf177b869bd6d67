package postgres

import (
	"context"
	"time"
)

// Claim takes or extends owner's claim on key. See store.Store.Claim.
func (s *Store) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if s.readOnly {
		return false, s.wrap("claim", errReadOnly)
	}
	now := time.Now()
	// Expired claims go first, in their own statement: the upsert below
	// then sees only live ones.
	if _, err := s.pool.Exec(ctx, `DELETE FROM build_claims WHERE expires_ms < $1`, now.UnixMilli()); err != nil {
		return false, s.wrap("claim", err)
	}
	// One statement decides: a new claim is inserted, the owner's own is
	// extended, another owner's is left (no row changes).
	tag, err := s.pool.Exec(ctx, `INSERT INTO build_claims (key, owner, expires_ms) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET expires_ms = excluded.expires_ms WHERE build_claims.owner = excluded.owner`,
		key, owner, now.Add(ttl).UnixMilli())
	if err != nil {
		return false, s.wrap("claim", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Release drops owner's claim on key. See store.Store.Release.
func (s *Store) Release(ctx context.Context, key, owner string) error {
	if s.readOnly {
		return s.wrap("release claim", errReadOnly)
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM build_claims WHERE key = $1 AND owner = $2`, key, owner)
	return s.wrap("release claim", err)
}
