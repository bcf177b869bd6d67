package redact

import (
	"math/rand"
	"strings"
)

// Character sets of the documented token formats.
const (
	base62    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	base64url = base62 + "-_"
	base64std = base62 + "+/"
	upper32   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	digits    = "0123456789"
	hexLower  = "0123456789abcdef"
)

var fakeRand = rand.New(rand.NewSource(11))

// fake returns n random characters from set: fake tokens of a real shape.
func fake(set string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(set[fakeRand.Intn(len(set))])
	}
	return b.String()
}

// token is a fake secret of a documented shape.
type token struct {
	name, value string
}

// tokens are fake secrets with the lengths and character sets their
// issuers document. Built once, so tests and fixtures agree.
var tokens = []token{
	// GitHub: prefix + 36 base62 (30 random + 6 checksum); fine-grained
	// PATs: github_pat_ + 22 + "_" + 59.
	{"github classic PAT", "ghp_" + fake(base62, 36)},
	{"github OAuth", "gho_" + fake(base62, 36)},
	{"github user-to-server", "ghu_" + fake(base62, 36)},
	{"github installation (GITHUB_TOKEN)", "ghs_" + fake(base62, 36)},
	{"github refresh", "ghr_" + fake(base62, 76)},
	{"github fine-grained PAT", "github_pat_" + fake(base62, 22) + "_" + fake(base62, 59)},
	// GitLab: legacy 20 characters, routable tokens with "."-separated
	// version and CRC.
	{"gitlab PAT", "glpat-" + fake(base64url, 20)},
	{"gitlab routable PAT", "glpat-" + fake(base64url, 27) + ".01." + fake(base62, 9)},
	{"gitlab OAuth secret", "gloas-" + fake(hexLower, 64)},
	{"gitlab deploy token", "gldt-" + fake(base64url, 20)},
	{"gitlab runner token", "glrt-" + fake(base64url, 20)},
	{"gitlab runner token (routable)", "glrtr-" + fake(base64url, 27) + ".0w" + fake(base62, 8)},
	{"gitlab CI job token", "glcbt-64_" + fake(base64url, 20)},
	{"gitlab trigger token", "glptt-" + fake(hexLower, 40)},
	{"gitlab feed token", "glft-" + fake(base64url, 20)},
	{"gitlab incoming mail token", "glimt-" + fake(base62, 25)},
	{"gitlab agent token", "glagent-" + fake(base64url, 50)},
	{"gitlab workspace token", "glwt-" + fake(base64url, 20)},
	{"gitlab SCIM token", "glsoat-" + fake(base64url, 20)},
	{"gitlab feature flags token", "glffct-" + fake(base64url, 20)},
	{"gitlab runner registration token", "GR1348941" + fake(base64url, 20)},
	// AWS access key ids: 4-letter prefix + 16 base32.
	{"aws access key id", "AKIA" + fake(upper32, 16)},
	{"aws temporary key id", "ASIA" + fake(upper32, 16)},
	{"aws docs example key id", "AKIAIOSFODNN7EXAMPLE"},
	// Slack.
	{"slack bot token", "xoxb-" + fake(digits, 12) + "-" + fake(digits, 13) + "-" + fake(base62, 24)},
	{"slack user token", "xoxp-" + fake(digits, 12) + "-" + fake(digits, 12) + "-" + fake(digits, 13) + "-" + fake(hexLower, 32)},
	{"slack app token", "xapp-1-A" + fake(upper32, 10) + "-" + fake(digits, 13) + "-" + fake(hexLower, 64)},
	{"slack legacy token", "xoxa-2-" + fake(digits, 12) + "-" + fake(base62, 30)},
	{"slack refresh token", "xoxr-" + fake(base62, 40)},
	{"slack session token", "xoxs-" + fake(digits, 12) + "-" + fake(base62, 24)},
	// Google API key: AIza + 35.
	{"google api key", "AIza" + fake(base64url, 35)},
	// Stripe: 24 characters (older) to 99 (current).
	{"stripe live secret", "sk_live_" + fake(base62, 24)},
	{"stripe live secret (long)", "sk_live_51" + fake(base62, 97)},
	{"stripe restricted", "rk_live_" + fake(base62, 24)},
	{"stripe test secret", "sk_test_" + fake(base62, 24)},
	{"stripe webhook secret", "whsec_" + fake(base62, 32)},
	// npm, PyPI, Docker Hub.
	{"npm token", "npm_" + fake(base62, 36)},
	{"pypi token", "pypi-AgEIcHlwaS5vcmc" + fake(base64url, 150)},
	{"docker hub PAT", "dckr_pat_" + fake(base64url, 27)},
	// jwt.io's example token.
	{"JWT", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"},
}

// awsSecretKey is the AWS documentation's example secret access key.
const awsSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

// rsaKey is a fake PEM private key: the right armour, a base64 body.
var rsaKey = func() []string {
	lines := []string{"-----BEGIN RSA PRIVATE KEY-----"}
	for range 25 {
		lines = append(lines, fake(base64std, 64))
	}
	return append(lines, fake(base64std, 40)+"==", "-----END RSA PRIVATE KEY-----")
}()
