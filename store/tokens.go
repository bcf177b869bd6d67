package store

import (
	"context"
	"errors"
	"time"
)

// Token scopes: what a server (buildstats serve) lets a token's bearer do.
const (
	// ScopeIngest sends builds of the token's project.
	ScopeIngest = "ingest"
	// ScopeRead reads every page and API answer of the server.
	ScopeRead = "read"
)

// Token is an access token to a history's server. The secret itself is
// never stored: only its SHA-256, which the server compares in constant
// time with the hash of what a client presents.
type Token struct {
	ID      int64  `json:"id"`
	Project string `json:"project,omitempty"` // empty for a read token
	Scope   string `json:"scope"`
	Name    string `json:"name,omitempty"`
	// Hash is the hex SHA-256 of the secret; not shown in listings.
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the token stops working; zero for never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt is when the token was revoked; zero while it is not.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Usable reports whether the token may still be used at now: not revoked
// and not expired.
func (t Token) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// TokenStore keeps a server's access tokens with the history they give
// access to. Both stores implement it; it is kept apart from Store
// because only the server and the token command use it.
type TokenStore interface {
	// CreateToken stores t (its Hash set, ID ignored) and returns it with
	// the id the store gave it. Ids are never reused.
	CreateToken(ctx context.Context, t Token) (Token, error)
	// Token returns the token with this id, revoked or expired ones
	// included; ErrTokenNotFound when there is none.
	Token(ctx context.Context, id int64) (Token, error)
	// Tokens lists every token, oldest first.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks the token revoked at at; revoking a revoked token
	// keeps its first revocation time. ErrTokenNotFound when there is none.
	RevokeToken(ctx context.Context, id int64, at time.Time) error
}

// ErrTokenNotFound: no token has the id.
var ErrTokenNotFound = errors.New("token not found")
