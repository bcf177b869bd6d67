// Package safetest checks that output buildstats writes from hostile build
// logs is neutral: no line a CI would act on, no control character a
// terminal would act on, no secret. Tests of every output (annotate, the
// HTML pages, the CLI) call Check on what they wrote.
//
// The CI rules here are written from the runners' own parsers, separately
// from package safe, so that a gap in safe is not mirrored by the check:
//
//   - GitHub Actions: ActionCommand.TryParseV2 ("::" after TrimStart) and
//     TryParse ("##[" anywhere), with .NET's culture-sensitive matching,
//     which skips ignorable characters;
//   - Azure Pipelines: "##vso[" anywhere (Command.TryParse);
//   - TeamCity: "##teamcity[" anywhere;
//   - Buildkite: the agent's headerRegex and headerExpansionRegex, after
//     colour codes are removed (also tried with leading space removed);
//   - GitLab: build_trace_section_regex, anywhere.
package safetest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Options say what output is being checked.
type Options struct {
	// GitHubCommands allows lines that are GitHub workflow commands of
	// these names (the annotations WriteGitHub prints). The message of
	// each, as the runner unescapes it, must itself be neutral, line by
	// line.
	GitHubCommands []string
	// Secrets are values that must not appear in the output.
	Secrets []string
}

// Problems returns what is not neutral in out, one description per
// problem; none when it is neutral.
func Problems(out string, opts Options) []string {
	var probs []string
	if !utf8.ValidString(out) {
		probs = append(probs, "invalid UTF-8")
	}
	for _, s := range opts.Secrets {
		if s != "" && strings.Contains(out, s) {
			probs = append(probs, fmt.Sprintf("secret %q appears", s))
		}
	}
	for n, line := range strings.Split(out, "\n") {
		for _, p := range lineProblems(line, opts, false) {
			probs = append(probs, fmt.Sprintf("line %d: %s: %q", n+1, p, line))
		}
	}
	return probs
}

// Check fails t with every problem Problems finds in out; name says which
// output it is.
func Check(t testing.TB, name string, out []byte, opts Options) {
	t.Helper()
	probs := Problems(string(out), opts)
	for i, p := range probs {
		if i == 20 {
			t.Errorf("%s: %d more problems", name, len(probs)-i)
			break
		}
		t.Errorf("%s: %s", name, p)
	}
}

// lineProblems checks one line; inData is set for the lines of a GitHub
// annotation's message.
func lineProblems(line string, opts Options, inData bool) []string {
	var probs []string
	for _, r := range line {
		if p := controlProblem(r); p != "" {
			probs = append(probs, p)
			break
		}
	}
	if name, data, ok := githubV2(line); ok {
		if !inData && contains(opts.GitHubCommands, strings.ToLower(name)) {
			for _, dl := range strings.Split(data, "\n") {
				for _, p := range lineProblems(dl, opts, true) {
					probs = append(probs, "in the message of ::"+name+"::: "+p)
				}
			}
		} else {
			probs = append(probs, "GitHub workflow command ::"+name+"::")
		}
	}
	if anywhere(line, "##[") {
		probs = append(probs, "GitHub/Azure ##[ command")
	}
	if anywhere(line, "##vso[") {
		probs = append(probs, "Azure ##vso[ command")
	}
	if anywhere(line, "##teamcity[") {
		probs = append(probs, "TeamCity ##teamcity[ service message")
	}
	if buildkiteHeader(line) {
		probs = append(probs, "Buildkite group header")
	}
	if gitlabSection.MatchString(line) {
		probs = append(probs, "GitLab section marker")
	}
	return probs
}

// controlProblem names r if a terminal, log viewer or bidi renderer would
// act on it.
func controlProblem(r rune) string {
	switch {
	case r == '\t':
		return ""
	case r == 0x1b:
		return "raw ESC"
	case r == '\r':
		return "raw CR (the runners' ReadLine splits lines at it)"
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf("raw control U+%04X", r)
	case r >= 0x80 && r < 0xa0:
		return fmt.Sprintf("raw C1 control U+%04X", r)
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return fmt.Sprintf("raw bidi control U+%04X", r)
	case r == 0x2028 || r == 0x2029:
		return fmt.Sprintf("raw line separator U+%04X", r)
	}
	return ""
}

// dotnetIgnorable approximates the code points ICU's root collation,
// which .NET's culture-sensitive StartsWith and IndexOf use, ignores
// entirely: controls and the default-ignorable code points.
func dotnetIgnorable(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// dotnetWhite is .NET's Char.IsWhiteSpace, what String.TrimStart removes.
func dotnetWhite(r rune) bool {
	return r >= 0x09 && r <= 0x0d || r == 0x85 || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp)
}

// githubV2 mirrors ActionCommand.TryParseV2: after TrimStart the line
// starts with "::", and the command runs to the next "::". The command
// name is not checked against the runner's list (stop-commands can add
// any name). data is the unescaped message.
func githubV2(line string) (name, data string, ok bool) {
	line = strings.TrimLeftFunc(line, dotnetWhite)
	var kept strings.Builder
	for _, r := range line {
		if !dotnetIgnorable(r) {
			kept.WriteRune(r)
		}
	}
	s := kept.String()
	rest, ok := strings.CutPrefix(s, "::")
	if !ok {
		return "", "", false
	}
	head, data, ok := strings.Cut(rest, "::")
	if !ok {
		return "", "", false
	}
	name, _, _ = strings.Cut(head, " ")
	for _, r := range [][2]string{{"%0D", "\r"}, {"%0A", "\n"}, {"%25", "%"}} {
		data = strings.ReplaceAll(data, r[0], r[1])
	}
	return name, data, true
}

// anywhere reports whether marker occurs in line with ignorable characters
// skipped, ASCII case ignored.
func anywhere(line, marker string) bool {
	var kept strings.Builder
	for _, r := range line {
		if !dotnetIgnorable(r) {
			kept.WriteRune(unicode.ToLower(r))
		}
	}
	return strings.Contains(kept.String(), marker)
}

var (
	// The Buildkite agent's header patterns (agent/header_times_streamer.go)
	// and the colour codes it strips first.
	bkHeader    = regexp.MustCompile(`^(?:---|\+\+\+|~~~)\s(.+)?$`)
	bkExpansion = regexp.MustCompile(`^(?:\^\^\^\s+\+\+\+)\s*$`)
	bkColour    = regexp.MustCompile(`\x1b\[([;\d]+)?[mK]`)
	// GitLab's build_trace_section_regex.
	gitlabSection = regexp.MustCompile(`section_((?:start)|(?:end)):(\d+):([a-zA-Z0-9_.-]+)(\[(?:\w+=\w+)(?:, ?(?:\w+=\w+))*\])?\r\x1b\[0K`)
)

func buildkiteHeader(line string) bool {
	line = bkColour.ReplaceAllString(line, "")
	for _, l := range []string{line, strings.TrimLeftFunc(line, unicode.IsSpace)} {
		if bkHeader.MatchString(l) || bkExpansion.MatchString(l) || bkHeader.MatchString(l+" ") {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
