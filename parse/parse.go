// Package parse turns Docker and BuildKit build output into a model.Build.
//
// It reads every text format docker and buildx print: BuildKit's tty display
// (including captured redraw frames), `--progress=plain`, `--progress=rawjson`
// and the legacy builder's "Step 2/5 :" output, with CI timestamp prefixes,
// ANSI colour, CRLF and surrounding non-build text. Parsing streams: memory
// grows with the number of vertices, not with the number of lines, and lines
// of any length are accepted.
//
// Parse detects the format; ParsePlain, ParseTTY, ParseRawJSON and
// ParseLegacy read one format. Recorder accepts decoded SolveStatus values
// from a live BuildKit stream.
package parse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
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
// It returns an error wrapping ErrNotBuildLog when the input is not a build
// log, and the I/O error (with what was parsed so far) when reading fails.
func Parse(r io.Reader, opts Options) (*model.Build, error) {
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
	var b *model.Build
	var err error
	switch format {
	case model.FormatPlain:
		b, err = ParsePlain(br)
	case model.FormatTTY:
		b, err = ParseTTY(br)
	case model.FormatRawJSON:
		b, err = ParseRawJSON(br)
	case model.FormatLegacy:
		b, err = ParseLegacy(br)
	default:
		return nil, fmt.Errorf("unknown input format %q (want tty, plain, rawjson or legacy)", format)
	}
	// Detection looked for build lines; a forced format did not, so text
	// that holds no build gets the same answer here.
	if err == nil && opts.Format != "" && len(b.Vertices) == 0 && b.Status == model.StatusUnknown && b.Error == "" {
		return nil, fmt.Errorf("%w: no %s build steps found", ErrNotBuildLog, format)
	}
	return b, err
}

// Detect picks the format of a build log from its first bytes. It counts the
// lines that only one format prints and returns the format with most
// evidence, or an error wrapping ErrNotBuildLog.
func Detect(head []byte) (model.Format, error) {
	if len(bytes.TrimSpace(head)) == 0 {
		return "", fmt.Errorf("%w: the input is empty", ErrNotBuildLog)
	}
	if looksBinary(head) {
		return "", fmt.Errorf("%w: the input is binary data", ErrNotBuildLog)
	}
	var votes = map[model.Format]int{}
	var scratch []byte
	rest := head
	for len(rest) > 0 {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		line = cleanLine(line, &scratch)
		line, _ = stripPrefixes(line)
		if f := lineFormat(line); f != "" {
			votes[f]++
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
	if _, rest, ok := cutVertexNumber(line); ok && len(rest) > 0 {
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

// eachLine feeds fn every line of r with terminal and CI decoration removed,
// and the line's CI timestamp if it had one. line is only valid during fn.
func eachLine(r io.Reader, fn func(line []byte, ts time.Time)) error {
	lr := newLineReader(r, maxKeptLine)
	var scratch []byte
	for {
		raw, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if raw != nil {
			line := cleanLine(raw, &scratch)
			line, ts := stripPrefixes(line)
			fn(line, ts)
		}
		if err != nil {
			return fmt.Errorf("reading build log: %w", err)
		}
	}
}
