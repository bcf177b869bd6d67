package serve

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/store"
)

// tokenPrefix starts every token, so a leaked one is recognisable (and
// secret scanners can be taught it).
const tokenPrefix = "bst_"

// NewSecret makes the random part of a token before its id is known, with
// its hash; Text joins it to the id.
func NewSecret() (secret, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashSecret(secret), nil
}

// Text is the token text of id and secret.
func Text(id int64, secret string) string { return fmt.Sprintf("%s%d_%s", tokenPrefix, id, secret) }

// HashSecret is what a store keeps of a token's secret: its hex SHA-256.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// splitToken reads "bst_<id>_<secret>".
func splitToken(text string) (int64, string, bool) {
	rest, ok := strings.CutPrefix(text, tokenPrefix)
	if !ok {
		return 0, "", false
	}
	idText, secret, ok := strings.Cut(rest, "_")
	if !ok || secret == "" || len(idText) > 19 {
		return 0, "", false
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return 0, "", false
	}
	return id, secret, true
}

// Auth errors. errNoToken and errBadToken answer 401, errForbidden 403.
var (
	errNoToken   = errors.New("this needs a token: send it as Authorization: Bearer TOKEN")
	errBadToken  = errors.New("the token is not valid: unknown, revoked or expired")
	errForbidden = errors.New("the token does not allow this")
)

// checkToken finds the usable token text stands for. The secret is
// compared with the stored hash in constant time; which part of a wrong
// token was wrong is not told.
func checkToken(ctx context.Context, ts store.TokenStore, text string, now time.Time) (store.Token, error) {
	if text == "" {
		return store.Token{}, errNoToken
	}
	id, secret, ok := splitToken(text)
	if !ok {
		return store.Token{}, errBadToken
	}
	t, err := ts.Token(ctx, id)
	if errors.Is(err, store.ErrTokenNotFound) {
		return store.Token{}, errBadToken
	}
	if err != nil {
		return store.Token{}, err
	}
	if subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(t.Hash)) != 1 || !t.Usable(now) {
		return store.Token{}, errBadToken
	}
	return t, nil
}

// equalSecret compares a presented secret with the expected one in
// constant time (of the expected one's length).
func equalSecret(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
