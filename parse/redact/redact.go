// Package redact masks secrets in build logs before buildstats shows,
// publishes or stores them. A build step can print anything, and
// buildstats's outputs (annotations, job summaries, JUnit, Code Quality,
// HTML reports, the history database) are published or kept where the
// CI's own log masking does not reach.
//
// Masking replaces each secret with Mask ("***"). The buildstats commands
// are to mask by default, with --no-mask (None) for local use. Masking is
// a safety net against accidental disclosure, not a barrier against a
// build that wants to leak: a step can always print a secret transformed.
//
// # What is masked
//
// Token shapes that CI systems and clouds issue, wherever they appear:
//
//   - GitHub: ghp_, gho_, ghu_, ghs_, ghr_ (36+ base62 characters) and
//     github_pat_ tokens; the 40-hex-digit classic OAuth tokens are not
//     recognised, they look like commit hashes;
//   - GitLab: glpat-, gloas-, gldt-, glrt-, glrtr-, glcbt-, glptt-, glft-,
//     glimt-, glagent-, glwt-, glsoat-, glffct- (the prefixes GitLab
//     documents) and GR1348941 runner registration tokens;
//   - AWS access key ids (AKIA…, ASIA…); secret keys by their names;
//   - Slack xoxb-/xoxa-/xoxp-/xoxr-/xoxs- and xapp- tokens, Slack webhook
//     URLs; Google API keys (AIza…); Stripe sk_/rk_ live and test keys and
//     whsec_ webhook secrets; npm (npm_), PyPI (pypi-AgE…) and Docker Hub
//     (dckr_pat_, dckr_oat_) tokens; JSON Web Tokens (eyJ….eyJ….…);
//   - private key blocks: the lines between "-----BEGIN … PRIVATE KEY-----"
//     and "-----END … PRIVATE KEY-----" (PGP's "PRIVATE KEY BLOCK" too),
//     also when the block spans several output lines of a step, when the
//     kept tail of the output starts inside it (an END with no BEGIN) or
//     ends inside it (a BEGIN with no END);
//   - credentials in URLs (scheme://user:***@host), Authorization and
//     Proxy-Authorization headers (the scheme is kept: "Bearer ***"),
//     bearer tokens, curl's -u user:***.
//
// Values of settings whose names say they are secret, in NAME=value,
// NAME: value, "name": "value", name => value, --name value and
// Dockerfile "ENV NAME value" forms: a name is secret when one of its words
// (split at _, -, . and camelCase) is password, passwd, passphrase, pwd,
// secret, token, jwt or credential(s), or is key after another word
// (API_KEY, apiKey, x-api-key, SecretAccessKey), or is a final auth
// (npm's _auth, Docker's "auth"), or reads connection string. Not secret:
// names whose last word says the value is about a secret rather than the
// secret (…_FILE, …_PATH, …_ID, …_NAME, …_URL, --password-stdin and the
// like), names with public or publishable in them, and the shell's PWD and
// OLDPWD. Values that are not secrets are kept: variable references
// ($TOKEN, ${TOKEN}, $(cat …)), booleans and null, placeholders already
// masked, and BuildKit secret specs (--secret id=npmrc,src=…,
// --mount=type=secret,id=…).
//
// Exact values: those given in Options.ExtraValues or added with Add (for
// example from FromEnv), and those a log line adds with GitHub's
// "::add-mask::VALUE" (or "##[add-mask]VALUE") as Build finds them. Each
// value is masked as it is, line by line when it has several lines, and
// in the encoded forms a step is likely to print: URL-escaped,
// JSON-escaped and base64 (at any byte alignment, as GitHub's runner does).
// Values shorter than Options.MinValueLen (DefaultMinValueLen) are
// ignored: masking "ab" everywhere would destroy the output. Asterisks at
// a value's ends are not part of what is masked (they are what the mask
// is made of).
package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/buildstats/buildstats/parse/model"
)

// Mask replaces every secret.
const Mask = "***"

// DefaultMinValueLen is the shortest exact value masked by default.
const DefaultMinValueLen = 4

// minEncodedLen is the shortest encoded form of a value that is masked:
// shorter base64 fragments occur by chance.
const minEncodedLen = 8

// Options configure a Redactor.
type Options struct {
	// ExtraValues are secret values to mask wherever they appear, such
	// as FromEnv's.
	ExtraValues []string
	// MinValueLen is the shortest exact value masked (values, lines of
	// multi-line values, ::add-mask:: values); DefaultMinValueLen when 0.
	MinValueLen int
}

// A Redactor masks secrets in text and builds. It is safe for concurrent
// use. A nil *Redactor masks with the built-in patterns only.
type Redactor struct {
	off    bool
	minLen int

	mu       sync.RWMutex
	values   map[string]bool
	replacer *strings.Replacer // for values; nil when there are none
}

// New returns a Redactor that masks the built-in token shapes and named
// secrets, and opts.ExtraValues.
func New(opts Options) *Redactor {
	r := &Redactor{minLen: opts.MinValueLen}
	if r.minLen <= 0 {
		r.minLen = DefaultMinValueLen
	}
	r.Add(opts.ExtraValues...)
	return r
}

// None returns a Redactor that masks nothing, for --no-mask.
func None() *Redactor { return &Redactor{off: true} }

// Add adds exact secret values (see the package documentation).
func (r *Redactor) Add(values ...string) {
	if r == nil || r.off {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.values == nil {
		r.values = map[string]bool{}
	}
	n := len(r.values)
	for _, v := range values {
		var parts []string
		for _, l := range strings.Split(strings.ReplaceAll(v, "\r\n", "\n"), "\n") {
			if l = strings.TrimSpace(l); len(l) >= r.minLen {
				parts = append(parts, l)
			}
		}
		if len(v) >= r.minLen && len(parts) != 1 {
			parts = append(parts, v)
		}
		for _, p := range parts {
			// Asterisks at a value's ends are trimmed: the mask is made of
			// them, so "*000" masked beside "000" would be found again in
			// "***000", and masking would never settle. What is left must
			// still be long enough to be a value.
			if p = strings.Trim(p, "*"); len(p) < r.minLen {
				continue
			}
			if strings.Contains(p, Mask) {
				// Masking it would put back what it matches; its parts
				// around the mask are masked where they are shapes.
				continue
			}
			r.values[p] = true
			for _, e := range encodings(p) {
				if len(e) >= minEncodedLen {
					r.values[e] = true
				}
			}
		}
	}
	if len(r.values) == n {
		return
	}
	// Longest first: at any position the longest value wins.
	all := make([]string, 0, len(r.values))
	for v := range r.values {
		all = append(all, v)
	}
	slices.SortFunc(all, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, Mask)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// encodings returns the forms of v a step is likely to print instead of
// v itself.
func encodings(v string) []string {
	out := []string{url.QueryEscape(v), url.PathEscape(v)}
	if j, err := json.Marshal(v); err == nil {
		out = append(out, string(j[1:len(j)-1]))
	}
	// base64 of v inside a longer encoded text depends on v's offset
	// modulo 3: encode with 0, 1 and 2 bytes before it and keep only the
	// characters that come from v alone.
	for shift := 0; shift < 3; shift++ {
		data := append(make([]byte, shift), v...)
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			s := enc.EncodeToString(data)
			lead := []int{0, 2, 3}[shift]
			trail := 0
			if len(data)%3 != 0 {
				trail = 1
			}
			if len(s) > lead+trail {
				out = append(out, s[lead:len(s)-trail])
			}
		}
	}
	return out
}

// String returns s with its secrets masked. A string of several lines is
// masked as Lines masks them, so a private key block inside it is found.
func (r *Redactor) String(s string) string {
	if r != nil && r.off || s == "" {
		return s
	}
	if strings.Contains(s, "\n") {
		return strings.Join(r.Lines(strings.Split(s, "\n")), "\n")
	}
	l := []string{s}
	maskKeyBlocks(l)
	return r.line(l[0])
}

// Lines returns the lines with their secrets masked, in a new slice (nil
// for nil). A private key block is masked across the lines, including one
// the lines start or end inside.
func (r *Redactor) Lines(lines []string) []string {
	if lines == nil {
		return nil
	}
	out := slices.Clone(lines)
	if r != nil && r.off {
		return out
	}
	maskKeyBlocks(out)
	for i, l := range out {
		out[i] = r.line(l)
	}
	return out
}

// line masks one line: values first, so that a value is masked whole even
// where a pattern would have masked part of it, then patterns, until
// nothing changes (masking can bring pieces of a value together).
func (r *Redactor) line(s string) string {
	var rep *strings.Replacer
	if r != nil {
		r.mu.RLock()
		rep = r.replacer
		r.mu.RUnlock()
	}
	for range 4 {
		before := s
		if rep != nil {
			s = rep.Replace(s)
		}
		s = maskPatterns(s)
		if s == before {
			break
		}
	}
	return s
}

// Build masks every text field of b in place: the builder, the error, its
// Dockerfile excerpt and file name, warnings and image names, and of each
// vertex its name, label parts (platform, stage, instruction), arguments,
// error, warnings, output lines, error lines and transfer names. Identifiers (vertex
// IDs, digests, inputs, the image ID) are left alone: they are digests,
// and masking them could merge vertices.
//
// First it adds to r the values the build's output lines mask with
// "::add-mask::VALUE" or "##[add-mask]VALUE", as the GitHub runner would
// have had they reached it, so that they are masked everywhere in the
// build, before the line as well as after it, and in whatever r masks
// afterwards. (In other text, such as the step name of an
// `echo "::add-mask::VALUE"`, the word after the command is masked.)
func (r *Redactor) Build(b *model.Build) {
	if b == nil || r != nil && r.off {
		return
	}
	if r == nil {
		r = New(Options{})
	}
	r.Add(addMaskValues(b, r.minLen)...)
	b.Builder = r.String(b.Builder)
	b.Error = r.String(b.Error)
	b.ErrorContext = r.Lines(b.ErrorContext)
	b.ErrorFile = r.String(b.ErrorFile)
	for i := range b.Warnings {
		b.Warnings[i].Text = r.String(b.Warnings[i].Text)
	}
	for i, n := range b.ImageNames {
		b.ImageNames[i] = r.String(n)
	}
	for _, v := range b.Vertices {
		v.Name = r.String(v.Name)
		v.Platform = r.String(v.Platform)
		v.Stage = r.String(v.Stage)
		v.Instruction = r.String(v.Instruction)
		v.Args = r.String(v.Args)
		v.Error = r.String(v.Error)
		for i, w := range v.Warnings {
			v.Warnings[i] = r.String(w)
		}
		v.Output = r.Lines(v.Output)
		v.ErrorLines = r.Lines(v.ErrorLines)
		for i := range v.Transfers {
			v.Transfers[i].Name = r.String(v.Transfers[i].Name)
		}
	}
	r.Inputs(b.Inputs)
}

// addMaskValues returns the values the build's output lines add to
// GitHub's mask with ::add-mask:: (or the older ##[add-mask]), unescaped
// as the runner unescapes them, and as written. Only output: in a step
// name or error the command is quoted inside a shell command, and the
// rest of the line is not the value.
func addMaskValues(b *model.Build, minLen int) []string {
	var out []string
	scan := func(s string) {
		if !mayAddMask(s) {
			return
		}
		for _, l := range strings.Split(s, "\n") {
			for _, m := range addMaskRE.FindAllStringSubmatch(l, -1) {
				raw := strings.TrimSpace(m[1])
				if len(raw) < minLen {
					continue
				}
				out = append(out, raw)
				if v := dataUnescaper.Replace(raw); v != raw {
					out = append(out, v)
				}
			}
		}
	}
	for _, v := range b.Vertices {
		for _, l := range v.Output {
			scan(l)
		}
		for _, l := range v.ErrorLines {
			scan(l)
		}
	}
	return out
}

// mayAddMask reports whether s may hold a command addMaskRE matches: the
// regexp, case-insensitive and unanchored, costs microseconds on every
// output line, and almost none holds "add-mask". It answers true for text
// with non-ASCII bytes, which (?i) folding could match ("ſ" for "s",
// the Kelvin sign for "k").
func mayAddMask(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	for rest := s; ; {
		i := strings.IndexByte(rest, '-')
		if i < 0 {
			return false
		}
		if i >= 3 && i+5 <= len(rest) && strings.EqualFold(rest[i-3:i+5], "add-mask") {
			return true
		}
		rest = rest[i+1:]
	}
}

// dataUnescaper undoes the runner's escaping of command data ("%25" last,
// as the runner replaces in that order).
var dataUnescaper = strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%")
