package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/buildstats/buildstats/store"
)

// tokensSchema holds buildstats serve's access tokens: the SHA-256 of each
// secret, never the secret. Times are Unix milliseconds; NULL expires_at
// is never, NULL revoked_at not revoked. Tokens are revoked, never
// deleted, so a rowid is never given out twice.
const tokensSchema = `
CREATE TABLE tokens (
	id         INTEGER PRIMARY KEY,
	project    TEXT NOT NULL,
	scope      TEXT NOT NULL,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	revoked_at INTEGER
);
`

var _ store.TokenStore = (*Store)(nil)

// CreateToken implements store.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	if s.readOnly {
		return store.Token{}, s.wrap("create token", errReadOnly)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, `INSERT INTO tokens (project, scope, name, hash, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, NULL)`, t.Project, t.Scope, t.Name, t.Hash, t.CreatedAt.UnixMilli(), nullMillis(t.ExpiresAt))
	if err != nil {
		return store.Token{}, s.wrap("create token", err)
	}
	if t.ID, err = res.LastInsertId(); err != nil {
		return store.Token{}, s.wrap("create token", err)
	}
	t.RevokedAt = time.Time{}
	return t, nil
}

// Token implements store.TokenStore.
func (s *Store) Token(ctx context.Context, id int64) (store.Token, error) {
	ts, err := s.tokens(ctx, `WHERE id = ?`, id)
	if err != nil {
		return store.Token{}, err
	}
	if len(ts) == 0 {
		return store.Token{}, fmt.Errorf("token %d: %w", id, store.ErrTokenNotFound)
	}
	return ts[0], nil
}

// Tokens implements store.TokenStore.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	return s.tokens(ctx, `ORDER BY id`)
}

func (s *Store) tokens(ctx context.Context, where string, args ...any) ([]store.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, project, scope, name, hash, created_at, expires_at, revoked_at FROM tokens `+where, args...)
	if err != nil {
		return nil, s.wrap("read tokens", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var t store.Token
		var created int64
		var expires, revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Project, &t.Scope, &t.Name, &t.Hash, &created, &expires, &revoked); err != nil {
			return nil, s.wrap("read tokens", err)
		}
		t.CreatedAt = time.UnixMilli(created).UTC()
		if expires.Valid {
			t.ExpiresAt = time.UnixMilli(expires.Int64).UTC()
		}
		if revoked.Valid {
			t.RevokedAt = time.UnixMilli(revoked.Int64).UTC()
		}
		out = append(out, t)
	}
	return out, s.wrap("read tokens", rows.Err())
}

// RevokeToken implements store.TokenStore.
func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	if s.readOnly {
		return s.wrap("revoke token", errReadOnly)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, at.UnixMilli(), id)
	if err != nil {
		return s.wrap("revoke token", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.wrap("revoke token", err)
	} else if n == 0 {
		return fmt.Errorf("token %d: %w", id, store.ErrTokenNotFound)
	}
	return nil
}

func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}
