package safe

import (
	"strings"
	"testing"

	"github.com/buildstats/buildstats/report/safe/safetest"
)

func TestMarkdown(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "RUN npm ci", "RUN npm ci"},
		{"html", "<script>alert(1)</script> & </svg>", "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;/svg&gt;"},
		{"table cell", "a | b", `a \| b`},
		{"code span", "`rm -rf /`", "\\`rm -rf /\\`"},
		{"emphasis", "**bold** _it_ ~~del~~", `\*\*bold\*\* \_it\_ \~\~del\~\~`},
		{"link", "[x](javascript:alert(1))", `\[x\](javascript:alert(1))`},
		{"image", "![x](https://evil.example/p.png)", `!\[x\](https://evil.example/p.png)`},
		{"math", `$\color{red}{\text{approved}}$`, `\$\\color{red}{\\text{approved}}\$`},
		{"backslash", `C:\path`, `C:\\path`},
		{"line break", "a\nb", "a<br>b"},
		{"CRLF", "a\r\nb", "a<br>b"},
		{"list", "- item", `\- item`},
		{"list after spaces", "   + item", `   \+ item`},
		{"heading", "# Title", `\# Title`},
		{"setext", "===", `\===`},
		{"quote", "> quoted", "&gt; quoted"},
		{"ordered list", "12. step", `12\. step`},
		{"ordered list paren", "3) step", `3\) step`},
		{"number", "12 steps", "12 steps"},
		{"digits only", "42", "42"},
		{"gh command", "::error::x", `\::error::x`},
		{"gh command after spaces", "  ::add-mask::x", `  \::add-mask::x`},
		{"buildkite", "^^^ +++", `\^^^ +++`},
		{"azure", "##vso[task.complete]", `\##vso\[task.complete\]`},
		{"in-line azure", "x ##vso[a.b]", `x ##vso\[a.b\]`},
		{"ESC", "\x1b[31mred", "␛\\[31mred"},
		{"C1", "a\u009bb", "a\uFFFDb"},
		{"bidi", "a\u202eb", "a\uFFFDb"},
		{"colon inside", "Dockerfile:12", "Dockerfile:12"},
	}
	for _, tt := range tests {
		got := Markdown(tt.in)
		if got != tt.want {
			t.Errorf("%s: Markdown(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
		safetest.Check(t, tt.name, []byte(got), safetest.Options{})
	}
}

func TestMarkdownCode(t *testing.T) {
	got := MarkdownCode("text", []string{"```", "::error::x", "<b>", "\x1b[0m"})
	want := "````text\n```\n\\::error::x\n<b>\n␛[0m\n````\n"
	if got != want {
		t.Errorf("MarkdownCode = %q, want %q", got, want)
	}
	if got := MarkdownCode("x\n::error::y", nil); got != "```\n```\n" {
		t.Errorf("a hostile language tag was kept: %q", got)
	}
}

// FuzzMarkdown: the escaped text is one Markdown line with no HTML, no
// unescaped markup character and nothing a CI acts on.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"<b>x</b>", "a|b", "`x`", "- x", "12. x", "::error::x", "$x$", "\x1b\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Markdown(s)
		if strings.ContainsAny(got, "<>\n\r") && !onlyBreaks(got) {
			t.Fatalf("Markdown(%q) = %q holds raw HTML or a line break", s, got)
		}
		backslashes := 0 // in a row before got[i]
		for i := 0; i < len(got); i++ {
			if strings.IndexByte("`|*_[]~$", got[i]) >= 0 && backslashes%2 == 0 {
				t.Fatalf("Markdown(%q) = %q: %q at %d is not escaped", s, got, got[i], i)
			}
			if got[i] == '\\' {
				backslashes++
			} else {
				backslashes = 0
			}
		}
		if probs := safetest.Problems(got, safetest.Options{}); len(probs) > 0 {
			t.Fatalf("Markdown(%q) = %q: %v", s, got, probs)
		}
	})
}

// onlyBreaks reports whether every < and > in s belongs to a <br>.
func onlyBreaks(s string) bool {
	s = strings.ReplaceAll(s, "<br>", "")
	return !strings.ContainsAny(s, "<>\n\r")
}
