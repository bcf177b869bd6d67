// Package safe neutralises untrusted text — anything a build log holds —
// for the places buildstats writes it: terminals, CI logs, Markdown
// summaries and JSON. A pull request controls what its RUN steps print, so
// every log-derived string goes through one of these functions on its way
// out.
//
// # Terminal text
//
// Terminal and Line replace what a terminal or log viewer would act on
// rather than show: C0 controls (ESC among them) become their Unicode
// control pictures ("␛" for ESC, "␍" for CR, "␀" for NUL), DEL becomes
// "␡", and C1 controls (U+0080–U+009F, U+009B CSI included), Unicode
// bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
// U+2066–U+2069: the Bidi_Control property, which "Trojan Source"
// reordering needs), U+2028/U+2029 and invalid UTF-8 become U+FFFD "�".
// Tab is kept. The pictures are ordinary printable symbols, so the reader
// still sees that something was there and, for C0, what it was.
//
// # CI-inert lines
//
// Line makes one line inert for every CI system buildstats runs in, by
// the rules their runners actually apply:
//
//   - GitHub Actions (actions/runner ActionCommand.TryParseV2) reads
//     "::name ...::data" at the start of a line after String.TrimStart, so
//     leading whitespace does not protect; it also reads the older
//     "##[name ...]data" anywhere in a line (TryParse uses IndexOf).
//   - Azure Pipelines reads "##vso[" anywhere in a line (Command.TryParse
//     uses IndexOf), and its log viewer formats "##[group]", "##[error]"
//     and friends.
//   - TeamCity reads "##teamcity[" service messages in a line.
//   - Buildkite (agent headerRegex) reads "--- ", "+++ ", "~~~ " and
//     "^^^ +++" at the start of a line, after removing colour codes.
//   - GitLab reads "section_start:N:name" and "section_end:N:name" only
//     when followed by "\r\x1b[0K" (Gitlab::Regex.build_trace_section_regex),
//     anywhere in the stream; Line leaves no CR or ESC, so they are inert.
//
// The .NET runners compare with the current culture, which skips
// "ignorable" characters: NUL and other controls (replaced, see above) and
// format characters such as U+00AD, U+200B or U+FEFF. Line therefore
// matches markers with those skipped, and never relies on an invisible
// character to break one.
//
// A marker is made inert by inserting a backslash, the one escape
// character Line uses: before the first marker character of a line-start
// marker ("  \::error::x", "\--- group"), and between the two "#" of an
// in-line one ("#\#vso[", "#\#[group]"). No CI matches a line that starts
// with "\" or a "#" followed by "\". In Markdown a backslash before
// ASCII punctuation is an escape that renders as nothing, so the same
// text stays faithful when rendered; in plain text the reader sees that
// the line was escaped. Lines that carry no marker are left as they are
// (apart from the control characters above), so ordinary output such as
// "+ make" or "- item" is unchanged.
//
// # Markdown and JSON
//
// Markdown escapes text for inline GitHub-flavoured Markdown (table cells
// included) and MarkdownCode writes a fenced code block; both neutralise
// as above. They replace report.MarkdownText and report.MarkdownCode,
// which pass C1 and bidi controls through, do not escape "$" (GitHub
// renders $…$ as math, which can draw arbitrary styled text) and do not
// make lines CI-inert.
//
// encoding/json escapes neither C1 nor bidi controls; JSONEncoder and
// EscapeJSON write them (and DEL, U+2028, U+2029) as \uXXXX, which
// decodes to the same value.
package safe

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Replacement stands in for C1 controls, bidi controls, U+2028, U+2029 and
// invalid UTF-8.
const Replacement = '\uFFFD'

// Escape is the character Line inserts to make a CI marker inert.
const Escape = '\\'

// Terminal neutralises multi-line text for a terminal: controls are
// replaced (see the package documentation) but newlines and tabs are kept,
// and CRLF becomes LF. The lines of the result are not CI-inert: use Block
// or Line for anything that can reach a CI log.
func Terminal(s string) string { return neutralise(s, true) }

// Inline is Terminal for text that must stay on one line: newline and CR
// become "␊" and "␍" like the other controls.
func Inline(s string) string { return neutralise(s, false) }

// Line neutralises s as one line of a terminal or CI log: Inline, then
// every CI marker is made inert (see the package documentation).
// Line(Line(s)) == Line(s).
func Line(s string) string { return inert(Inline(s)) }

// Lines applies Line to each line, in a new slice.
func Lines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = Line(l)
	}
	return out
}

// Block neutralises multi-line text: Terminal, then Line on each line.
// The result has the same lines as s, joined with "\n".
func Block(s string) string {
	if s == "" {
		return s
	}
	lines := strings.Split(Terminal(s), "\n")
	for i, l := range lines {
		lines[i] = inert(l)
	}
	return strings.Join(lines, "\n")
}

// needsWork reports whether neutralise would change s.
func needsWork(s string, keepNewline bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\t':
		case c == '\n':
			if !keepNewline {
				return true
			}
		case c < 0x20 || c == 0x7f:
			return true
		case c >= 0x80:
			// Non-ASCII: decode the rest rune by rune.
			for _, r := range s[i:] {
				if r == utf8.RuneError || r < 0x20 && r != '\t' && (r != '\n' || !keepNewline) || r == 0x7f || replaced(r) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// replaced reports whether r becomes Replacement: C1 controls, bidi
// controls and the Unicode line and paragraph separators.
func replaced(r rune) bool {
	switch {
	case r < 0x80:
		return false
	case r < 0xa0:
		return true // C1
	case r < 0x61c:
		return false
	}
	// U+2028, U+2029 and the Bidi_Control property, spelled out: they
	// are checked for every non-ASCII character.
	return r == 0x061c || r == 0x200e || r == 0x200f || r >= 0x2028 && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

func neutralise(s string, keepNewline bool) string {
	if !needsWork(s, keepNewline) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(Replacement)
		case r == '\t':
			b.WriteByte('\t')
		case r == '\n' && keepNewline:
			b.WriteByte('\n')
		case r == '\r' && keepNewline && i < len(s) && s[i] == '\n':
			// CRLF is a line ending, not content.
		case r < 0x20:
			b.WriteRune(0x2400 + r) // control pictures: U+2400 NUL … U+241F US
		case r == 0x7f:
			b.WriteRune('\u2421') // DEL
		case replaced(r):
			b.WriteRune(Replacement)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ignorable reports whether the .NET runners' culture-sensitive string
// comparison skips r: format characters (U+00AD, U+200B–U+200F, U+2060,
// U+FEFF, …), variation selectors and the other default-ignorable code
// points. Controls, also ignorable there, never reach inert: they are
// replaced first.
func ignorable(r rune) bool {
	if r < 0xad { // U+00AD SOFT HYPHEN is the first
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// inert makes a line that has been through Inline inert for every CI.
func inert(line string) string {
	if ascii(line) {
		// No ignorable characters: plain string tests rule out most lines.
		lead := strings.TrimLeft(line, " \t")
		if !strings.Contains(line, "##") && (lead == "" || strings.IndexByte(":-+~^sS", lead[0]) < 0) {
			return line
		}
	}
	// The line's runes with the ignorable ones left out, and the byte
	// offset of each in line, so that matches map back.
	var sk []rune
	var off []int
	for o, r := range line {
		if !ignorable(r) {
			sk = append(sk, unicode.ToLower(r))
			off = append(off, o)
		}
	}
	at := func(i int, word string) bool {
		for _, w := range word {
			if i >= len(sk) || sk[i] != w {
				return false
			}
			i++
		}
		return true
	}
	// Byte offsets at which to insert an Escape, ascending.
	var ins []int

	// Line-start markers, after the whitespace the runners trim.
	first := 0
	for first < len(sk) && unicode.IsSpace(sk[first]) {
		first++
	}
	if lineStartMarker(sk, first, at) {
		ins = append(ins, off[first])
	}

	// In-line markers: "##[" (GitHub, Azure formatting), "##vso["
	// (Azure), "##teamcity[" (TeamCity). The backslash goes after the
	// first "#".
	for i := 0; i+2 < len(sk); i++ {
		if sk[i] == '#' && sk[i+1] == '#' && (at(i+2, "[") || at(i+2, "vso[") || at(i+2, "teamcity[")) {
			ins = append(ins, off[i+1])
			i++ // "###[" needs one escape, not two
		}
	}
	if len(ins) == 0 {
		return line
	}
	var b strings.Builder
	b.Grow(len(line) + len(ins))
	prev := 0
	for _, o := range ins {
		b.WriteString(line[prev:o])
		b.WriteRune(Escape)
		prev = o
	}
	b.WriteString(line[prev:])
	return b.String()
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lineStartMarker reports whether the line whose lower-cased,
// non-ignorable runes are sk has a marker at sk[i], its first non-space
// rune, that a CI reads at the start of a line.
func lineStartMarker(sk []rune, i int, at func(int, string) bool) bool {
	switch {
	case at(i, "::"):
		return true // GitHub workflow command
	case at(i, "section_start:"), at(i, "section_end:"):
		// GitLab needs "\r\x1b[0K" after it, which Inline removes;
		// escaped anyway so that no line even looks like one.
		return true
	}
	// Buildkite: "--- ", "+++ ", "~~~ ", "^^^ +++": three marker
	// characters followed by whitespace or the end of the line.
	for _, m := range []string{"---", "+++", "~~~", "^^^"} {
		if at(i, m) {
			return i+3 == len(sk) || unicode.IsSpace(sk[i+3])
		}
	}
	return false
}
