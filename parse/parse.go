// Package parse turns Docker and BuildKit build output into a model.Build.
//
// It reads every text format docker and buildx print: BuildKit's tty display
// (including captured redraw frames), `--progress=plain`, `--progress=rawjson`
// and the legacy builder's "Step 2/5 :" output, with ANSI colour, CRLF and
// surrounding non-build text, in UTF-8 (with or without a byte order mark)
// or UTF-16 with a byte order mark, as PowerShell writes it. Parsing
// streams: memory grows with the number of vertices, not with the number of
// lines, and lines of any length are accepted.
//
// Line prefixes of any shape (CI timestamps in any layout, logger and
// runner tags, mixtures of them) are learned per file: the lines that carry
// a build marker vote for the shape of what precedes it, and that shape is
// stripped from every line; timestamps in it date the lines.
//
// A line's identity comes from its start. A carriage return inside a line
// is part of it: what a build step prints after a CR stays that step's
// output and can never become a progress line, and a line that begins with
// a CR (a terminal overwrite) is never progress either.
//
// Progress that contradicts itself is merged by one rule: what the log says
// about a vertex only ever adds to it. Its flags (completed, cached,
// cancelled, failed) are set and never cleared, and its time is the largest
// the log states for it. So a vertex DONE twice keeps the longer time, and
// a vertex reported CACHED after it ran is cached and keeps the time it ran
// (a cache hit that spent seconds loading layers keeps those seconds).
// Durations and sizes that are negative, not finite or absurd (over
// model.MaxDuration or model.MaxBytes) are dropped, never clamped.
//
// Parse and ParseAll detect the format; ParsePlain, ParseTTY, ParseRawJSON
// and ParseLegacy read one format. A log can hold several builds: Parse
// returns the last, ParseAll all of them. Recorder accepts decoded
// SolveStatus values from a live BuildKit stream.
package parse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/buildstats/buildstats/parse/model"
)

// ErrNotBuildLog is wrapped by the error Parse returns for input that holds
// no recognisable build output: empty, binary, an HTML page, other text.
var ErrNotBuildLog = errors.New("not a Docker or BuildKit build log")

// detectWindow is how much of the input Parse looks at to pick a format.
const detectWindow = 1 << 20

// readerPool reuses the detection-sized buffers: a caller parsing many
// small logs should not allocate 1 MiB for each.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, detectWindow) }}

// Options control Parse.
type Options struct {
	// Format forces an input format; empty means detect it.
	Format model.Format
}

// Parse reads a build log in any supported format and returns the build.
// When the log holds several builds (a CI retry, a script that builds
// twice) it returns the last one; its LogBuilds field says how many there
// were, and ParseAll returns them all.
// It returns an error wrapping ErrNotBuildLog when the input is not a build
// log, and the I/O error (with what was parsed so far) when reading fails.
func Parse(r io.Reader, opts Options) (*model.Build, error) {
	return last(ParseAll(r, opts))
}

// ParseAll reads a build log like Parse and returns every build it holds,
// in the order the log shows them. When there are several, each has
// LogIndex (1-based) and LogBuilds set; a log with one build gives a slice
// of one build with both 0, exactly as a live recording of it would be. On error the
// builds parsed so far are returned with it (none for ErrNotBuildLog).
//
// A new build begins where the log starts over: vertex numbers restart at
// #1 (plain), the tty header's timer goes back or follows a FINISHED frame,
// the legacy builder sends a build context again or its step numbers
// restart, rawjson resumes after a build's closing error.
func ParseAll(r io.Reader, opts Options) ([]*model.Build, error) {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	format := opts.Format
	if format == "" {
		head, err := br.Peek(detectWindow)
		if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		format, err = Detect(head)
		if err != nil {
			return nil, err
		}
	}
	var builds []*model.Build
	var err error
	switch format {
	case model.FormatPlain:
		builds, err = parsePlainAll(br)
	case model.FormatTTY:
		builds, err = parseTTYAll(br)
	case model.FormatRawJSON:
		builds, err = parseRawJSONAll(br)
	case model.FormatLegacy:
		builds, err = parseLegacyAll(br)
	default:
		return nil, fmt.Errorf("unknown input format %q (want tty, plain, rawjson or legacy)", format)
	}
	// Detection looked for build lines; a forced format did not, so text
	// that holds no build gets the same answer here.
	if err == nil && opts.Format != "" && !anyBuild(builds) {
		return nil, fmt.Errorf("%w: no %s build steps found", ErrNotBuildLog, format)
	}
	return builds, err
}

// anyBuild reports whether the builds hold anything of a build: a vertex,
// an error or an outcome.
func anyBuild(builds []*model.Build) bool {
	for _, b := range builds {
		if len(b.Vertices) > 0 || b.Error != "" || b.Status != model.StatusUnknown {
			return true
		}
	}
	return false
}

// last returns the last build of a ParseAll result.
func last(builds []*model.Build, err error) (*model.Build, error) {
	if len(builds) == 0 {
		return nil, err
	}
	return builds[len(builds)-1], err
}

// numberBuilds drops the empty builds a log's noise can open (no vertex, no
// error) unless nothing else is left, and numbers the rest.
func numberBuilds(all []*model.Build) []*model.Build {
	kept := all[:0:0]
	for _, b := range all {
		if len(b.Vertices) > 0 || b.Error != "" {
			kept = append(kept, b)
		}
	}
	if len(kept) == 0 && len(all) > 0 {
		kept = all[len(all)-1:]
	}
	if len(kept) > 1 {
		for i, b := range kept {
			b.LogIndex, b.LogBuilds = i+1, len(kept)
		}
	}
	return kept
}

// Detect picks the format of a build log from its first bytes. It counts the
// lines that only one format prints and returns the format with most
// evidence, or an error wrapping ErrNotBuildLog.
func Detect(head []byte) (model.Format, error) {
	if len(bytes.TrimSpace(head)) == 0 {
		return "", fmt.Errorf("%w: the input is empty", ErrNotBuildLog)
	}
	head = decodeHead(head)
	if looksBinary(head) {
		return "", fmt.Errorf("%w: the input is binary data", ErrNotBuildLog)
	}
	var votes = map[model.Format]int{}
	src := newLineSource(bytes.NewReader(head), maxKeptLine)
	for {
		l, err := src.next()
		if err != nil {
			break
		}
		if l.overwritten {
			continue
		}
		if f := lineFormat(l.text); f != "" {
			votes[f]++
			if f == model.FormatTTY && bytes.Contains(l.text, []byte("[+] Building ")) {
				votes[f] += 100 // a tty header outweighs "#0 0.1" lines in its error box
			}
		}
	}
	if votes[model.FormatRawJSON] > 0 {
		return model.FormatRawJSON, nil
	}
	best, n := model.Format(""), 0
	for _, f := range []model.Format{model.FormatTTY, model.FormatPlain, model.FormatLegacy} {
		if votes[f] > n {
			best, n = f, votes[f]
		}
	}
	if best == "" {
		trimmed := bytes.ToLower(bytes.TrimSpace(head[:min(len(head), 512)]))
		if bytes.HasPrefix(trimmed, []byte("<!doctype html")) || bytes.HasPrefix(trimmed, []byte("<html")) {
			return "", fmt.Errorf("%w: the input is an HTML page", ErrNotBuildLog)
		}
		return "", fmt.Errorf("%w: no BuildKit (#1 ..., => ...) or legacy builder (Step 1/3 : ...) lines found", ErrNotBuildLog)
	}
	return best, nil
}

// lineFormat names the format a single cleaned line belongs to, if any.
func lineFormat(line []byte) model.Format {
	trimmed := bytes.TrimLeft(line, " \t")
	switch {
	case bytes.HasPrefix(line, []byte("{")) && (bytes.Contains(line, []byte(`"vertexes"`)) || bytes.Contains(line, []byte(`"statuses"`)) || bytes.Contains(line, []byte(`"logs"`))):
		return model.FormatRawJSON
	case bytes.HasPrefix(trimmed, []byte("[+] Building ")), bytes.HasPrefix(trimmed, []byte("=> ")):
		return model.FormatTTY
	case bytes.HasPrefix(line, []byte("Step ")) && isLegacyStep(line):
		return model.FormatLegacy
	case bytes.HasPrefix(line, []byte("Sending build context to Docker daemon")):
		return model.FormatLegacy
	}
	if n, rest, ok := cutVertexNumber(line); ok && len(rest) > 0 {
		if _, isOutput := logOffset(rest); n == 0 && isOutput {
			return "" // "#0 0.074 text": an older CLI's error box, any format
		}
		return model.FormatPlain
	}
	return ""
}

// looksBinary reports NUL bytes or mostly invalid UTF-8 in the sample.
func looksBinary(b []byte) bool {
	sample := b[:min(len(b), 8<<10)]
	if bytes.IndexByte(sample, 0) >= 0 {
		return true
	}
	bad := 0
	for len(sample) > 0 {
		r, size := utf8.DecodeRune(sample)
		if r == utf8.RuneError && size == 1 {
			bad++
		}
		sample = sample[size:]
	}
	return bad > len(b[:min(len(b), 8<<10)])/10
}
