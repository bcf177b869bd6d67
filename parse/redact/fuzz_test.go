package redact

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzString: a token of any shape between any two texts is masked, and
// masking is idempotent.
func FuzzString(f *testing.F) {
	f.Add("password=", "&x=1", uint8(0))
	f.Add("Authorization: Bearer", "", uint8(5))
	f.Add("ENV API_TOKEN", "\x1b[0m", uint8(20))
	f.Add("{\"auth\":\"", "\"}", uint8(30))
	f.Add("-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", uint8(2))
	f.Fuzz(func(t *testing.T, before, after string, i uint8) {
		tok := tokens[int(i)%len(tokens)]
		in := before + " " + tok.value + " " + after
		r := New(Options{})
		got := r.String(in)
		if strings.Contains(got, tok.value) {
			t.Fatalf("%s survives: %q -> %q", tok.name, in, got)
		}
		if again := r.String(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, got, again)
		}
		if utf8.ValidString(in) && !utf8.ValidString(got) {
			t.Fatalf("%q masked to invalid UTF-8 %q", in, got)
		}
	})
}

// FuzzValues: an exact value is masked wherever it is, whatever is
// around it.
func FuzzValues(f *testing.F) {
	f.Add("x", "hunter2")
	f.Add("password=", "p@ss w0rd")
	f.Add("a*", "**b*")
	f.Add("\n", "line1\nline2")
	f.Fuzz(func(t *testing.T, text, value string) {
		r := New(Options{ExtraValues: []string{value}})
		in := text + value + text
		got := r.String(in)
		for _, l := range strings.Split(strings.ReplaceAll(value, "\r\n", "\n"), "\n") {
			l = strings.Trim(strings.TrimSpace(l), "*") // as Add keeps it
			if len(l) < DefaultMinValueLen || strings.Contains(l, Mask) {
				continue
			}
			if strings.Contains(got, l) {
				t.Fatalf("value line %q survives: %q -> %q", l, in, got)
			}
		}
		if again := r.String(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, got, again)
		}
	})
}

// FuzzKeyBlock: the body of a private key block never survives, whether
// the lines hold all of it, the output's kept tail starts inside it, or
// the output ends inside it.
func FuzzKeyBlock(f *testing.F) {
	f.Add("before", "after", uint8(0), uint8(0))
	f.Add("x -----END RSA PRIVATE KEY-----", "x -----BEGIN RSA PRIVATE KEY-----", uint8(1), uint8(9))
	f.Add("-----BEGIN EC PRIVATE KEY-----", "", uint8(2), uint8(20))
	f.Fuzz(func(t *testing.T, before, after string, mode, cut uint8) {
		n := int(cut) % len(rsaKey)
		var lines []string
		switch mode % 3 {
		case 0: // all of it
			lines = append(append(strings.Split(before, "\n"), rsaKey...), strings.Split(after, "\n")...)
		case 1: // a tail that starts inside it
			lines = append(slices.Clone(rsaKey[n:]), strings.Split(after, "\n")...)
		case 2: // an output that ends inside it
			lines = append(strings.Split(before, "\n"), rsaKey[:n]...)
		}
		got := New(Options{}).Lines(lines)
		if len(got) != len(lines) {
			t.Fatalf("%d lines became %d", len(lines), len(got))
		}
		for _, body := range rsaKey[1 : len(rsaKey)-1] {
			if slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, body) }) {
				t.Fatalf("key line %q survives in %q", body, got)
			}
		}
	})
}

// FuzzMayHint checks the prefilter of maskPatterns: a text it rules out
// holds no rule's hint, so skipping the rules changes nothing.
func FuzzMayHint(f *testing.F) {
	f.Add("gcc -O2 -c src/module_1/file_1.c -o build/module_1/file_1.o -Wall")
	f.Add("curl -u x:y")
	f.Add("PASSWORD=1")
	f.Add("\u212aEY=1") // the Kelvin sign lower-cases to "k"
	f.Fuzz(func(t *testing.T, s string) {
		if mayHint(s) {
			return
		}
		lower := strings.ToLower(s)
		for i := range rules {
			for _, h := range rules[i].hints {
				if strings.Contains(lower, h) {
					t.Fatalf("%q holds hint %q but was ruled out", s, h)
				}
			}
		}
	})
}
