package sqlite

import (
	"context"
	"time"
)

// Claim takes or extends owner's claim on key. See store.Store.Claim.
func (s *Store) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if s.readOnly {
		return false, s.wrap("claim", errReadOnly)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see the DSN)
	if err != nil {
		return false, s.wrap("claim", err)
	}
	defer tx.Rollback()
	now := time.Now()
	if _, err := tx.ExecContext(ctx, `DELETE FROM build_claims WHERE expires_ms < ?`, now.UnixMilli()); err != nil {
		return false, s.wrap("claim", err)
	}
	// One statement decides: a new claim is inserted, the owner's own is
	// extended, another owner's is left (no row changes).
	res, err := tx.ExecContext(ctx, `INSERT INTO build_claims (key, owner, expires_ms) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET expires_ms = excluded.expires_ms WHERE build_claims.owner = excluded.owner`,
		key, owner, now.Add(ttl).UnixMilli())
	if err != nil {
		return false, s.wrap("claim", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.wrap("claim", err)
	}
	return n == 1, s.wrap("claim", tx.Commit())
}

// Release drops owner's claim on key. See store.Store.Release.
func (s *Store) Release(ctx context.Context, key, owner string) error {
	if s.readOnly {
		return s.wrap("release claim", errReadOnly)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.db.ExecContext(ctx, `DELETE FROM build_claims WHERE key = ? AND owner = ?`, key, owner)
	return s.wrap("release claim", err)
}
