package safe

import (
	"strings"
	"unicode"
)

// Markdown escapes log text for inline GitHub-flavoured Markdown, table
// cells included. Controls are replaced as by Terminal; HTML special
// characters become entities; Markdown punctuation is backslash-escaped,
// so the text cannot open code spans, emphasis, strikethrough, links,
// images, footnotes, math ($) or table cells; line breaks become <br>, so
// the text stays on one Markdown line. Its first non-space character is
// escaped when it could start a block (list, heading, quote, setext line)
// or a CI marker ("::", "--- ", "^^^"), so the line is CI-inert too when
// the text starts it.
//
// It fixes report.MarkdownText, which passes C1 and bidi controls through
// and leaves "$" and a leading ":" or "^" unescaped.
func Markdown(s string) string {
	s = Terminal(s)
	var b strings.Builder
	b.Grow(len(s) + 8)
	if lead := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsSpace(r) && !ignorable(r) }); lead >= 0 {
		markdownText(&b, s[:lead])
		s = s[lead:]
		digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
		switch {
		case digits > 0 && digits < len(s) && (s[digits] == '.' || s[digits] == ')'):
			// "12. text" or "12) text" would begin an ordered list.
			b.WriteString(s[:digits] + `\` + s[digits:digits+1])
			s = s[digits+1:]
		case strings.ContainsRune("-+#=:^", rune(s[0])):
			b.WriteString(`\` + s[:1])
			s = s[1:]
		}
	}
	markdownText(&b, s)
	return b.String()
}

func markdownText(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\n':
			b.WriteString("<br>")
		case '\\', '`', '|', '*', '_', '[', ']', '~', '$':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
}

// MarkdownCode returns lines as a fenced code block, with a trailing
// newline. The fence is longer than any backtick run in the lines, so no
// line can close the block early, and every line goes through Line: code
// blocks are printed to CI logs as they are (Buildkite reads annotate's
// Markdown from stdout), so they must be inert there too. lang is kept
// only if it is a plain word.
func MarkdownCode(lang string, lines []string) string {
	lines = Lines(lines)
	longest := 0
	for _, l := range lines {
		run := 0
		for _, r := range l {
			if r == '`' {
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
	}
	for _, r := range lang {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '+') {
			lang = ""
			break
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	var b strings.Builder
	b.WriteString(fence + lang + "\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString(fence + "\n")
	return b.String()
}
