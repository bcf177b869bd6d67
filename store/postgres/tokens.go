package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/buildstats/buildstats/store"
)

// tokensSchema holds buildstats serve's access tokens: the SHA-256 of each
// secret, never the secret. NULL expires_at is never, NULL revoked_at not
// revoked; a sequence never gives an id twice.
const tokensSchema = `
CREATE TABLE tokens (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	project    text NOT NULL,
	scope      text NOT NULL,
	name       text NOT NULL,
	hash       text NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz,
	revoked_at timestamptz
);
COMMENT ON TABLE tokens IS 'buildstats serve: access tokens (SHA-256 of each secret)';
`

var _ store.TokenStore = (*Store)(nil)

// CreateToken implements store.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	if s.readOnly {
		return store.Token{}, s.wrap("create token", errReadOnly)
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO tokens (project, scope, name, hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, t.Project, t.Scope, t.Name, t.Hash, t.CreatedAt.UTC(), optionalTime(t.ExpiresAt)).Scan(&t.ID)
	if err != nil {
		return store.Token{}, s.wrap("create token", err)
	}
	t.RevokedAt = time.Time{}
	return t, nil
}

// Token implements store.TokenStore.
func (s *Store) Token(ctx context.Context, id int64) (store.Token, error) {
	ts, err := s.tokens(ctx, `WHERE id = $1`, id)
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
	rows, err := s.pool.Query(ctx, `SELECT id, project, scope, name, hash, created_at, expires_at, revoked_at FROM tokens `+where, args...)
	if err != nil {
		return nil, s.wrap("read tokens", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var t store.Token
		var expires, revoked *time.Time
		if err := rows.Scan(&t.ID, &t.Project, &t.Scope, &t.Name, &t.Hash, &t.CreatedAt, &expires, &revoked); err != nil {
			return nil, s.wrap("read tokens", err)
		}
		t.CreatedAt = t.CreatedAt.UTC()
		if expires != nil {
			t.ExpiresAt = expires.UTC()
		}
		if revoked != nil {
			t.RevokedAt = revoked.UTC()
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
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, at.UTC(), id)
	if err != nil {
		return s.wrap("revoke token", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %d: %w", id, store.ErrTokenNotFound)
	}
	return nil
}

// optionalTime is NULL for a zero time.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
