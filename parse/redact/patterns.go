package redact

import (
	"regexp"
	"strings"
	"unicode"
)

// addMaskRE finds GitHub's add-mask command in a line, in both syntaxes;
// the runner matches command names case-insensitively.
var addMaskRE = regexp.MustCompile(`(?i)(?:::add-mask::|##\[add-mask\])(.*)$`)

// A rule masks one kind of secret in a line.
type rule struct {
	// hints are lower-case substrings one of which a line must contain for
	// the rule to apply: a cheap filter before the regexp.
	hints []string
	re    *regexp.Regexp
	// groups are the submatches holding the secret, the first that
	// matched is masked; the whole match when empty.
	groups []int
	// name, if set, is the submatch holding a setting's name: the match
	// is masked only if secretName says the name is secret.
	name int
	// value, if set, keeps matches whose masked text is not a secret
	// (variable references and the like).
	value bool
	// rescan makes the search continue inside the value of a match that
	// was kept, so that x=SECRET=y, whose name x is not secret, still
	// finds SECRET=y.
	rescan bool
}

// Token shapes are matched without a word boundary before the prefix
// (colour codes such as "\x1b[32m" end in a letter), except where the
// prefix is not distinctive (AWS).

// Characters of an unquoted value: up to whitespace, a quote, a backtick
// or a separator of URL queries, shell commands and lists.
const valueChars = "[^\\s\"'`&;,]"

var rules = []rule{
	{ // GitHub
		hints: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
		re:    regexp.MustCompile(`(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})`),
	},
	{ // GitLab
		hints: []string{"glpat-", "gloas-", "gldt-", "glrt-", "glrtr-", "glcbt-", "glptt-", "glft-", "glimt-", "glagent-", "glwt-", "glsoat-", "glffct-", "gr1348941"},
		re:    regexp.MustCompile(`(?:gl(?:pat|oas|dt|rtr?|cbt|ptt|ft|imt|agent|wt|soat|ffct)-|GR1348941)[0-9A-Za-z_-]{20,}(?:\.[0-9A-Za-z_-]+)*`),
	},
	{ // AWS access key ids
		hints:  []string{"akia", "asia"},
		re:     regexp.MustCompile(`(?:^|[^A-Za-z0-9]|\x1b\[[0-9;]*m)((?:AKIA|ASIA)[A-Z0-9]{16})(?:[^A-Za-z0-9]|$)`),
		groups: []int{1},
	},
	{ // Slack tokens
		hints: []string{"xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "xapp-"},
		re:    regexp.MustCompile(`(?:xox[baprs]|xapp)-[0-9A-Za-z-]{10,}`),
	},
	{ // Slack webhooks: the path is the secret
		hints:  []string{"hooks.slack.com"},
		re:     regexp.MustCompile(`hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9_/-]+)`),
		groups: []int{1},
	},
	{ // Google API keys
		hints: []string{"aiza"},
		re:    regexp.MustCompile(`AIza[0-9A-Za-z_-]{35}`),
	},
	{ // Stripe
		hints: []string{"sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"},
		re:    regexp.MustCompile(`(?:[sr]k_(?:live|test)_[0-9A-Za-z]{10,}|whsec_[0-9A-Za-z]{20,})`),
	},
	{ // npm
		hints:  []string{"npm_"},
		re:     regexp.MustCompile(`(npm_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)`),
		groups: []int{1},
	},
	{ // PyPI
		hints: []string{"pypi-age"},
		re:    regexp.MustCompile(`pypi-AgE[A-Za-z0-9_-]{50,}`),
	},
	{ // Docker Hub
		hints: []string{"dckr_"},
		re:    regexp.MustCompile(`dckr_(?:pat|oat)_[A-Za-z0-9_-]{20,}`),
	},
	{ // the value of GitHub's add-mask command, wherever the command is
		hints:  []string{"::add-mask::", "##[add-mask]"},
		re:     regexp.MustCompile(`(?i)(?:::add-mask::|##\[add-mask\])[ \t]*([^\s"'` + "`" + `\\]+)`),
		groups: []int{1},
		value:  true,
	},
	{ // JSON Web Tokens: a JSON header and payload ("{" is "eyJ")
		hints: []string{"eyj"},
		re:    regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`),
	},
	{ // scheme://user:password@host
		hints:  []string{"://"},
		re:     regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@"'<>]*:([^/\s@"'<>]+)@`),
		groups: []int{1},
		value:  true,
	},
	{ // Authorization headers: the credentials after the scheme
		hints:  []string{"authorization"},
		re:     regexp.MustCompile(`(?i)\b(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?(?:(?:bearer|basic|token|digest|bot|negotiate|ntlm|aws4-hmac-sha256|apikey|sso-key|otp)[ \t]+)?([^\s"',;]+)`),
		groups: []int{1},
		value:  true,
	},
	{ // bearer tokens elsewhere
		hints:  []string{"bearer"},
		re:     regexp.MustCompile(`(?i)\bbearer[ \t]+([A-Za-z0-9._~+/-]{8,}=*)`),
		groups: []int{1},
		value:  true,
	},
	{ // curl -u user:password
		hints:  []string{"-u", "--user"},
		re:     regexp.MustCompile(`(?:^|\s)(?:-u|--user)(?:[ \t]+|=)["']?[^\s:"']+:([^\s"']+)`),
		groups: []int{1},
		value:  true,
	},
	{ // Dockerfile ENV NAME value
		hints:  []string{"env"},
		re:     regexp.MustCompile(`(?:^|[\s\]])(?i:ENV)[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+(\S.*)$`),
		name:   1,
		groups: []int{2},
		value:  true,
	},
	{ // --name value
		hints:  secretWords,
		re:     regexp.MustCompile(`(?:^|\s)--([A-Za-z][A-Za-z0-9_-]*)[ \t]+([^\s"'` + "`" + `-][^\s"'` + "`" + `]*)`),
		name:   1,
		groups: []int{2},
		value:  true,
	},
	{ // NAME=value, NAME: value, "name": "value", name => value
		hints: secretWords,
		re: regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])(-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*(?:=>|:=|[:=])[ \t]*` +
			`(?:"([^"]*)"|'([^']*)'|([^\s"'` + "`" + `&;,=]` + valueChars + `*))`),
		name:   1,
		groups: []int{2, 3, 4},
		value:  true,
		rescan: true,
	},
}

// secretWords are the hints of the named-setting rules: a secret name has
// one of them.
var secretWords = []string{"pass", "pwd", "secret", "token", "key", "auth", "jwt", "credential", "connection"}

// maskPatterns applies every rule to a line.
func maskPatterns(s string) string {
	if s == "" || !mayHint(s) {
		return s
	}
	lower := strings.ToLower(s)
	for i := range rules {
		ru := &rules[i]
		hit := false
		for _, h := range ru.hints {
			if strings.Contains(lower, h) {
				hit = true
				break
			}
		}
		if hit {
			s = ru.apply(s)
			lower = strings.ToLower(s)
		}
	}
	return s
}

// hintStarts holds, hashed, the first three bytes of every rule's hints
// (the first two for two-byte hints, in hintPairs): a line none of whose
// trigrams or pairs is in them contains no hint, and is spared the
// lower-casing and the search for each of some fifty hints.
var hintStarts, hintPairs = func() (tri [1 << 16 / 64]uint64, pair [1 << 16 / 64]uint64) {
	for i := range rules {
		for _, h := range rules[i].hints {
			if len(h) >= 3 {
				k := trigram(h[0], h[1], h[2])
				tri[k/64] |= 1 << (k % 64)
			} else {
				k := uint32(h[0])<<8 | uint32(h[1])
				pair[k/64] |= 1 << (k % 64)
			}
		}
	}
	return tri, pair
}()

func trigram(a, b, c byte) uint32 {
	return (uint32(a)<<16 | uint32(b)<<8 | uint32(c)) * 0x9E3779B1 >> 16
}

// asciiLower maps ASCII letters to lower case and every other byte to
// itself.
var asciiLower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// mayHint reports whether s may contain a hint of some rule. It is exact
// in one direction only: false means no hint is in strings.ToLower(s).
// Text that is not ASCII may lower-case into ASCII letters (the Kelvin
// sign is "k"), so it is always a maybe.
func mayHint(s string) bool {
	if len(s) < 2 {
		return true
	}
	l0 := s[0]
	if l0 >= 0x80 {
		return true
	}
	l0 = asciiLower[l0]
	l1 := byte(0)
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return true
		}
		c = asciiLower[c]
		if k := uint32(l0)<<8 | uint32(c); hintPairs[k/64]&(1<<(k%64)) != 0 {
			return true
		}
		if i >= 2 {
			if k := trigram(l1, l0, c); hintStarts[k/64]&(1<<(k%64)) != 0 {
				return true
			}
		}
		l1, l0 = l0, c
	}
	return false
}

func (ru *rule) apply(s string) string {
	var b strings.Builder
	done := 0 // s[:done] is written to b
	for pos := 0; pos < len(s); {
		m := ru.re.FindStringSubmatchIndex(s[pos:])
		if m == nil {
			break
		}
		for i := range m {
			if m[i] >= 0 {
				m[i] += pos
			}
		}
		start, end := m[0], m[1]
		if len(ru.groups) > 0 {
			start, end = -1, -1
			for _, g := range ru.groups {
				if m[2*g] >= 0 {
					start, end = m[2*g], m[2*g+1]
					break
				}
			}
		}
		keep := start < 0 ||
			ru.name > 0 && !secretName(s[m[2*ru.name]:m[2*ru.name+1]]) ||
			ru.value && notSecret(s[start:end])
		switch {
		case !keep:
			b.WriteString(s[done:start])
			b.WriteString(Mask)
			done = end
			pos = end
		case ru.rescan && start >= 0 && start > pos:
			pos = start // look for a setting inside the value
		default:
			pos = max(m[1], pos+1)
		}
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// notSecret reports whether a value found by a named-setting rule is
// something other than a secret.
func notSecret(v string) bool {
	switch strings.ToLower(v) {
	case "", "true", "false", "yes", "no", "on", "off", "null", "nil", "none", "undefined",
		"[masked]", "[redacted]", "<redacted>", "redacted", "[filtered]":
		return true
	}
	if strings.Trim(v, "*") == "" {
		return true // already masked
	}
	switch {
	case strings.HasPrefix(v, "${"), strings.HasPrefix(v, "$("), strings.HasPrefix(v, "$$"):
		return true // variable reference, command substitution, escaped $
	case v[0] == '$' && isIdent(v[1:]):
		return true // $TOKEN
	case len(v) > 2 && v[0] == '%' && v[len(v)-1] == '%' && isIdent(v[1:len(v)-1]):
		return true // %TOKEN% (Windows)
	case len(v) > 2 && v[0] == '<' && v[len(v)-1] == '>':
		return true // <your-token>
	case strings.HasPrefix(v, "{{"):
		return true // a template
	}
	// BuildKit secret specs: --secret id=npmrc,src=…, type=secret,id=…
	for _, p := range []string{"id=", "type=", "src=", "source=", "env=", "target=", "required=", "mode=", "uid=", "gid="} {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// notSecretLast are last words of a name that say the value is about a
// secret (where it is, what it is called) rather than the secret.
var notSecretLast = map[string]bool{
	"file": true, "files": true, "path": true, "dir": true, "stdin": true, "name": true, "names": true,
	"id": true, "ids": true, "ref": true, "arn": true, "env": true, "type": true, "kind": true,
	"length": true, "len": true, "size": true, "count": true, "enabled": true, "disabled": true,
	"required": true, "optional": true, "source": true, "src": true, "mount": true, "url": true,
	"uri": true, "endpoint": true, "header": true, "prefix": true, "suffix": true, "policy": true,
	"provider": true, "manager": true, "store": true, "location": true, "hint": true, "expiry": true,
	"expires": true, "expiration": true, "ttl": true, "lifetime": true, "rotation": true,
	"version": true, "format": true, "mode": true, "scope": true, "scopes": true, "algorithm": true,
	"method": true, "host": true, "user": true, "username": true,
}

// notSecretAny are words that make a name not secret wherever they are.
var notSecretAny = map[string]bool{
	"public": true, "publishable": true, "primary": true, "foreign": true, "sort": true, "partition": true,
}

// secretName reports whether a setting with this name holds a secret (see
// the package documentation).
func secretName(name string) bool {
	if name == "PWD" || name == "OLDPWD" {
		return false // the shell's working directory
	}
	words := nameWords(name)
	if len(words) == 0 || notSecretLast[words[len(words)-1]] {
		return false
	}
	for _, w := range words {
		if notSecretAny[w] {
			return false
		}
	}
	for i, w := range words {
		switch w {
		case "password", "passwd", "passphrase", "pwd", "secret", "secrets", "token", "jwt",
			"credential", "credentials", "apikey", "authtoken", "accesskey", "secretkey", "privatekey":
			return true
		case "key":
			if i > 0 {
				return true
			}
		case "auth":
			if i == len(words)-1 {
				return true
			}
		case "connection":
			if i+1 < len(words) && words[i+1] == "string" {
				return true
			}
		case "connectionstring":
			return true
		}
	}
	return false
}

// nameWords splits a name into lower-case words at non-alphanumeric
// characters and camelCase boundaries: "_authToken" is auth, token;
// "AWS_SECRET_ACCESS_KEY" is aws, secret, access, key.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
			continue
		case unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) ||
			unicode.IsUpper(rs[i-1]) && i+1 < len(rs) && unicode.IsLower(rs[i+1])):
			// fooBar, and HTTPServer's S
			flush()
		}
		cur = append(cur, r)
	}
	flush()
	return words
}

// Private key block markers.
var (
	keyBegin = regexp.MustCompile(`-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----`)
	keyEnd   = regexp.MustCompile(`-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----`)
)

// maskKeyBlocks masks, in place, the text between private key BEGIN and
// END markers across lines: a line inside a block becomes Mask, the rest
// of a BEGIN line after the marker and the start of an END line before it
// become Mask, the markers themselves stay. Lines that start inside a
// block (the first marker is an END: the lines are the tail of an output
// that was cut inside the key) and a block that does not end are masked
// to the end.
func maskKeyBlocks(lines []string) {
	inKey := false
	found := false
	for _, l := range lines {
		b, e := keyBegin.FindStringIndex(l), keyEnd.FindStringIndex(l)
		if b != nil || e != nil {
			inKey = e != nil && (b == nil || e[0] < b[0])
			found = true
			break
		}
	}
	if !found {
		return
	}
	for i, l := range lines {
		var out strings.Builder
		pos := 0
		for pos < len(l) {
			re := keyBegin
			if inKey {
				re = keyEnd
			}
			loc := re.FindStringIndex(l[pos:])
			if loc == nil {
				if inKey {
					out.WriteString(Mask)
				} else {
					out.WriteString(l[pos:])
				}
				break
			}
			if inKey && loc[0] > 0 {
				out.WriteString(Mask)
			} else if !inKey {
				out.WriteString(l[pos : pos+loc[0]])
			}
			out.WriteString(l[pos+loc[0] : pos+loc[1]])
			pos += loc[1]
			inKey = !inKey
		}
		lines[i] = out.String()
	}
}
