package serve

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store"
)

// TokenListSchemaVersion is the version of token list's JSON contract.
const TokenListSchemaVersion = 1

// TokenList is what `buildstats token list` prints: every token, never its
// secret.
type TokenList struct {
	SchemaVersion int         `json:"schema_version"`
	Tokens        []TokenInfo `json:"tokens"`
}

// TokenInfo is one token of a TokenList.
type TokenInfo struct {
	ID      int64   `json:"id"`
	Project *string `json:"project"` // null for a read token
	Scope   string  `json:"scope"`
	Name    *string `json:"name"`
	// State is "active", "expired" or "revoked".
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"` // null: never
	RevokedAt *time.Time `json:"revoked_at"`
}

// NewTokenList lists tokens as of now.
func NewTokenList(tokens []store.Token, now time.Time) *TokenList {
	l := &TokenList{SchemaVersion: TokenListSchemaVersion, Tokens: []TokenInfo{}}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	optTime := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	for _, t := range tokens {
		state := "active"
		switch {
		case !t.RevokedAt.IsZero():
			state = "revoked"
		case !t.Usable(now):
			state = "expired"
		}
		l.Tokens = append(l.Tokens, TokenInfo{ID: t.ID, Project: opt(t.Project), Scope: t.Scope, Name: opt(t.Name), State: state,
			CreatedAt: t.CreatedAt.UTC(), ExpiresAt: optTime(t.ExpiresAt), RevokedAt: optTime(t.RevokedAt)})
	}
	return l
}

// RenderTokens writes the list as a table or JSON.
func RenderTokens(w io.Writer, format string, l *TokenList) error {
	if format == report.FormatJSON {
		return report.WriteJSON(w, l)
	}
	if len(l.Tokens) == 0 {
		_, err := fmt.Fprintln(w, "No tokens. Create one with: buildstats token create --project NAME")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROJECT\tSCOPE\tNAME\tSTATE\tCREATED\tEXPIRES")
	day := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.Format("2006-01-02")
	}
	str := func(s *string) string {
		if s == nil {
			return "-"
		}
		return report.TerminalText(*s)
	}
	for _, t := range l.Tokens {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, str(t.Project), t.Scope, str(t.Name), t.State,
			t.CreatedAt.Format("2006-01-02"), day(t.ExpiresAt))
	}
	return tw.Flush()
}
