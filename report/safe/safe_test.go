package safe

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/buildstats/buildstats/report/safe/safetest"
)

func TestTerminal(t *testing.T) {
	tests := []struct {
		name, in, terminal, inline string
	}{
		{"plain", "npm ci --omit=dev", "npm ci --omit=dev", "npm ci --omit=dev"},
		{"tab kept", "a\tb", "a\tb", "a\tb"},
		{"newline", "a\nb", "a\nb", "a␊b"},
		{"CRLF", "a\r\nb", "a\nb", "a␍␊b"},
		{"lone CR", "x\r#1 DONE 1e19s", "x␍#1 DONE 1e19s", "x␍#1 DONE 1e19s"},
		{"ESC colour", "\x1b[31mred\x1b[0m", "␛[31mred␛[0m", "␛[31mred␛[0m"},
		{"ESC title set", "\x1b]0;pwned\x07", "␛]0;pwned␇", "␛]0;pwned␇"},
		{"NUL BEL BS VT FF", "\x00\x07\x08\x0b\x0c", "␀␇␈␋␌", "␀␇␈␋␌"},
		{"DEL", "a\x7fb", "a␡b", "a␡b"},
		{"C1 CSI", "\u009b31mred", "\uFFFD31mred", "\uFFFD31mred"},
		{"C1 NEL and OSC", "a\u0085b\u009dc", "a\uFFFDb\uFFFDc", "a\uFFFDb\uFFFDc"},
		{"bidi RLO", "user\u202Egnp.exe", "user\uFFFDgnp.exe", "user\uFFFDgnp.exe"},
		{"bidi isolates", "\u2066a\u2067b\u2068c\u2069", "\uFFFDa\uFFFDb\uFFFDc\uFFFD", "\uFFFDa\uFFFDb\uFFFDc\uFFFD"},
		{"bidi embeddings", "\u202Aa\u202Bb\u202Cc\u202Dd", "\uFFFDa\uFFFDb\uFFFDc\uFFFDd", "\uFFFDa\uFFFDb\uFFFDc\uFFFDd"},
		{"bidi marks", "\u200Ea\u200Fb\u061Cc", "\uFFFDa\uFFFDb\uFFFDc", "\uFFFDa\uFFFDb\uFFFDc"},
		{"line separators", "a\u2028b\u2029c", "a\uFFFDb\uFFFDc", "a\uFFFDb\uFFFDc"},
		{"invalid UTF-8", "a\xff\xfeb", "a\uFFFD\uFFFDb", "a\uFFFD\uFFFDb"},
		{"truncated rune", "a\xe2\x80", "a\uFFFD\uFFFD", "a\uFFFD\uFFFD"},
		// Printable non-ASCII and emoji sequences (ZWJ, VS16) stay.
		{"unicode text", "✅ ⚠️ 👨‍👩‍👧 日本語 ü", "✅ ⚠️ 👨‍👩‍👧 日本語 ü", "✅ ⚠️ 👨‍👩‍👧 日本語 ü"},
	}
	for _, tt := range tests {
		if got := Terminal(tt.in); got != tt.terminal {
			t.Errorf("%s: Terminal(%q) = %q, want %q", tt.name, tt.in, got, tt.terminal)
		}
		if got := Inline(tt.in); got != tt.inline {
			t.Errorf("%s: Inline(%q) = %q, want %q", tt.name, tt.in, got, tt.inline)
		}
	}
}

// Every CI marker, in every disguise a log can give it, comes out of Line
// in one exact inert form.
func TestLine(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ordinary output", "npm warn deprecated glob@7.2.3", "npm warn deprecated glob@7.2.3"},
		{"xtrace", "+ apt-get update", "+ apt-get update"},
		{"list item", "- item", "- item"},
		{"comment", "# comment", "# comment"},
		{"docker error box", "------", "------"},
		{"single colon", ":x", ":x"},
		{"colons inside", "at main.go:12:3", "at main.go:12:3"},
		{"hashes inside", "C# ## heading", "C# ## heading"},

		// GitHub workflow commands: at line start, after any whitespace
		// the runner's TrimStart removes, after ignorable characters.
		{"gh error", "::error::pwned", `\::error::pwned`},
		{"gh add-mask", "::add-mask::x", `\::add-mask::x`},
		{"gh stop-commands", "::stop-commands::tok", `\::stop-commands::tok`},
		{"gh set-output", "::set-output name=x::y", `\::set-output name=x::y`},
		{"gh group", "::group::title", `\::group::title`},
		{"gh upper case", "::ERROR::x", `\::ERROR::x`},
		{"gh after spaces", "    ::error::x", `    \::error::x`},
		{"gh after tab", "\t::error::x", "\t\\::error::x"},
		{"gh after NBSP and ideographic space", "\u00a0\u3000::error::x", "\u00a0\u3000\\::error::x"},
		{"gh after ZWSP", "\u200b::error::x", "\u200b\\::error::x"},
		{"gh after BOM", "\ufeff::error::x", "\ufeff\\::error::x"},
		{"gh colons split by soft hyphen", ":\u00ad:error::x", "\\:\u00ad:error::x"},
		{"gh after NUL", "\x00::error::x", "␀::error::x"},
		{"gh after CR", "x\r::error::x", "x␍::error::x"},
		{"gh after LF", "x\n::error::x", "x␊::error::x"},
		{"gh mid line", "echo ::error::x", "echo ::error::x"},

		// "##[" anywhere: GitHub's v1 commands and Azure's formatting.
		{"gh v1 add-mask", "##[add-mask]secret", `#\#[add-mask]secret`},
		{"gh v1 mid line", "#6 0.101 ##[set-output name=x;]y", `#6 0.101 #\#[set-output name=x;]y`},
		{"azure group", "##[group]Run", `#\#[group]Run`},
		{"three hashes", "###[group]", `##\#[group]`},
		{"four hashes", "####[x]", `###\#[x]`},
		{"two markers", "##[a] ##[b]", `#\#[a] #\#[b]`},
		{"hashes split by ZWJ", "#\u200d#[error]x", "#\u200d\\#[error]x"},
		{"azure vso", "##vso[task.setvariable variable=x]y", `#\#vso[task.setvariable variable=x]y`},
		{"azure vso mid line", "ok ##vso[task.complete result=Failed]", `ok #\#vso[task.complete result=Failed]`},
		{"azure vso upper", "##VSO[x.y]", `#\#VSO[x.y]`},
		{"azure vso split", "##v\u200bso[x.y]", "#\\#v\u200bso[x.y]"},
		{"teamcity", "##teamcity[buildStatus status='SUCCESS']", `#\#teamcity[buildStatus status='SUCCESS']`},
		{"teamcity mid line", "x ##teamcity[message text='x']", `x #\#teamcity[message text='x']`},
		{"hashes no bracket", "## vso[", "## vso["},

		// Buildkite group markers.
		{"bk collapsed", "--- group", `\--- group`},
		{"bk expanded", "+++ group", `\+++ group`},
		{"bk deemphasised", "~~~ group", `\~~~ group`},
		{"bk expand previous", "^^^ +++", `\^^^ +++`},
		{"bk bare", "---", `\---`},
		{"bk tab", "---\tgroup", "\\---\tgroup"},
		{"bk after spaces", "  +++ x", `  \+++ x`},
		{"go test fail", "--- FAIL: TestX (0.00s)", `\--- FAIL: TestX (0.00s)`},
		{"bk four dashes", "---- x", "---- x"},

		// GitLab sections: inert without CR and ESC, escaped anyway.
		{"gitlab section", "section_start:1700000000:build\r\x1b[0KBuild", `\section_start:1700000000:build␍␛[0KBuild`},
		{"gitlab section end", "section_end:1700000000:build\r\x1b[0K", `\section_end:1700000000:build␍␛[0K`},
		{"gitlab mid line", "x section_start:1:a\r\x1b[0K", "x section_start:1:a␍␛[0K"},

		// Several at once.
		{"start and in-line", "::error::##vso[x.y]", `\::error::#\#vso[x.y]`},
	}
	for _, tt := range tests {
		got := Line(tt.in)
		if got != tt.want {
			t.Errorf("%s: Line(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
		if again := Line(got); again != got {
			t.Errorf("%s: Line is not idempotent: %q then %q", tt.name, got, again)
		}
		safetest.Check(t, tt.name, []byte(got), safetest.Options{})
	}
}

// The reference checker does see the raw markers: the table above would
// pass without Line otherwise.
func TestCheckerSeesRawMarkers(t *testing.T) {
	for _, raw := range []string{
		"::error::x", "  ::error::x", "\u200b::add-mask::x", "x ##[add-mask]y", "##vso[a.b]c",
		"##teamcity[x]", "--- g", "^^^ +++", "section_start:1:a\r\x1b[0K", "\x1b[31m", "\u202e", "\u009b",
	} {
		if len(safetest.Problems(raw, safetest.Options{})) == 0 {
			t.Errorf("the checker finds nothing wrong with %q", raw)
		}
	}
}

func TestLinesAndBlock(t *testing.T) {
	in := []string{"ok", "::error::x", "\x1b[1m##vso[a.b]"}
	want := []string{"ok", `\::error::x`, `␛[1m#\#vso[a.b]`}
	got := Lines(in)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	if in[1] != "::error::x" {
		t.Error("Lines changed its argument")
	}
	block := "ok\r\n  ::warning::y\n--- z\n"
	if got, want := Block(block), "ok\n  \\::warning::y\n\\--- z\n"; got != want {
		t.Errorf("Block(%q) = %q, want %q", block, got, want)
	}
	if Block("") != "" {
		t.Error("Block of nothing is something")
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{"::error::x", " \u200b::x::", "##vso[a.b]", "#\u00ad#[x]", "--- x", "^^^ +++", "\x1b[0m\r\n\u202e", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s)
		if strings.ContainsAny(got, "\n\r") {
			t.Fatalf("Line(%q) = %q spans lines", s, got)
		}
		if again := Line(got); again != got {
			t.Fatalf("Line(%q) = %q, then %q", s, got, again)
		}
		if probs := safetest.Problems(got, safetest.Options{}); len(probs) > 0 {
			t.Fatalf("Line(%q) = %q: %v", s, got, probs)
		}
		// Only escapes are added and only controls replaced: the
		// printable text is all still there, in order.
		if strip := strings.ReplaceAll(got, `\`, ""); !sameVisible(s, strip) {
			t.Fatalf("Line(%q) = %q lost or added text", s, got)
		}
	})
}

func FuzzBlock(f *testing.F) {
	f.Add("a\n::error::x\r\n  --- y\n##[group]z")
	f.Fuzz(func(t *testing.T, s string) {
		got := Block(s)
		if probs := safetest.Problems(got, safetest.Options{}); len(probs) > 0 {
			t.Fatalf("Block(%q) = %q: %v", s, got, probs)
		}
		if n, m := strings.Count(Terminal(s), "\n"), strings.Count(got, "\n"); n != m {
			t.Fatalf("Block(%q) has %d line breaks, want %d", s, m, n)
		}
	})
}

// sameVisible reports whether b is a with controls replaced by their
// placeholders and (after the caller removed them) backslashes removed.
func sameVisible(a, b string) bool {
	a = strings.ReplaceAll(Inline(a), `\`, "")
	return a == b && utf8.ValidString(b)
}

func BenchmarkLine(b *testing.B) {
	lines := []string{
		"npm warn deprecated inflight@1.0.6: This module is not supported, and leaks memory.",
		"added 1289 packages, and audited 1290 packages in 41s",
		"  sha256:2f44b7a8c64e1c9f3a3 29.13MB / 29.13MB  4.4s",
		"::error file=Dockerfile,line=1::x",
		"Collecting flask==3.0.0 (from -r requirements.txt (line 1))",
		"Ünïcödé output ✅ with no markers at all",
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Line(lines[i%len(lines)])
	}
}

// replaced spells out unicode.Bidi_Control: check it against the table.
func TestReplacedIsBidiControl(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Bidi_Control, r)
		if replaced(r) != want {
			t.Fatalf("replaced(%U) = %v, want %v", r, !want, want)
		}
	}
}

// ignorable's shortcut: nothing below U+00AD is in its tables.
func TestIgnorableShortcut(t *testing.T) {
	for r := rune(0); r < 0xad; r++ {
		if unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			t.Fatalf("%U is ignorable", r)
		}
	}
}
