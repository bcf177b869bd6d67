package report

import "github.com/buildstats/buildstats/report/safe"

// MarkdownText escapes log text for inline GitHub-flavoured markdown,
// table cells included, the way the markdown renderer does: HTML becomes
// entities, markdown punctuation is backslash-escaped and line breaks
// become <br>. Other packages that write markdown (CI summaries) use it so
// that every markdown output shares one hardened escaper.
func MarkdownText(s string) string { return safe.Markdown(s) }

// MarkdownCode returns lines as a fenced code block (with a trailing
// newline) whose fence is longer than any backtick run in the lines, so no
// line can close it early; control characters are replaced.
func MarkdownCode(lang string, lines []string) string { return safe.MarkdownCode(lang, lines) }
