package parse

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// srcLine is one line of input as the format decoders see it.
type srcLine struct {
	// text is the line without ANSI escapes, the CI prefix and the CRs of a
	// CRLF end. It may still hold carriage returns: see shownText.
	text []byte
	// ts is the line's CI timestamp, zero when it has none. A time with
	// year noDate carries no date and only measures durations.
	ts time.Time
	// overwritten is set when the line began with a carriage return: a
	// terminal overwrote it, so it is output, never progress.
	overwritten bool
	// cut is set when the line was longer than the reader keeps.
	cut bool
	// noCR is set when text holds no carriage return (see lineReader);
	// unset, it may or may not.
	noCR bool
}

// lineSource reads decoded, cleaned, prefix-stripped lines. It first holds
// up to learnWindow bytes of lines to learn the file's line prefix, then
// hands those lines out and streams the rest.
type lineSource struct {
	lr      *lineReader
	scratch []byte
	learn   prefixLearner

	held    []byte // the learning window's cleaned lines, back to back
	heldEnd []int  // end offset of each held line; negative when cut
	replay  int    // next held line to hand out

	// online voting goes on after the window while too few marker lines
	// were seen to decide.
	online bool

	// raw, when set, is offered each streamed line before it is cleaned,
	// once no line prefix was learned; it reports whether it took the
	// line, which then goes no further. It must take only lines that
	// cleaning and prefix stripping leave as they are but for trailing
	// CRs, that begin with '{' and that it reads the same with or without
	// those CRs (rawjson's log lines: ASCII with no control byte).
	raw func(line []byte) bool

	timer    time.Time // from a line that held only a time
	lastTS   time.Time
	dayShift time.Duration
	line     srcLine
}

func newLineSource(r io.Reader, limit int) *lineSource {
	return &lineSource{lr: newLineReader(r, limit), learn: prefixLearner{votes: map[string]int{}}}
}

// fill reads the learning window and decides the prefix shapes.
func (s *lineSource) fill() error {
	var err error
	for len(s.held) < learnWindow && s.learn.markers < learnMarkers {
		var raw []byte
		raw, err = s.lr.next()
		if raw == nil && err == io.EOF {
			err = nil
			break
		}
		line := cleanLine(raw, s.lr.plain, s.lr.noE2, &s.scratch)
		s.learn.vote(line)
		s.held = append(s.held, line...)
		end := len(s.held)
		if s.lr.cut {
			end = -end
		}
		s.heldEnd = append(s.heldEnd, end)
		if err != nil {
			break
		}
	}
	if s.learn.markers < 20 && err == nil && len(s.held) >= learnWindow {
		s.online = true // a long preamble: keep listening
	} else {
		s.learn.decide()
	}
	return err
}

// next returns the next line; the line is valid until the following call.
// It returns io.EOF after the last line.
func (s *lineSource) next() (*srcLine, error) {
	if s.heldEnd == nil {
		s.heldEnd = []int{}
		if err := s.fill(); err != nil {
			if err == io.EOF {
				err = nil
			}
			if err != nil {
				return nil, fmt.Errorf("reading build log: %w", err)
			}
		}
	}
	for {
		var line []byte
		cut, noCR := false, false
		if s.replay < len(s.heldEnd) {
			start := 0
			if s.replay > 0 {
				start = abs(s.heldEnd[s.replay-1])
			}
			end := s.heldEnd[s.replay]
			cut = end < 0
			line = s.held[start:abs(end)]
			s.replay++
			if s.replay == len(s.heldEnd) && !s.online {
				// The last held line: hand it out, then free the window.
				// (No defer: it would cost every call.)
				keep := s.process(line, cut, false)
				s.release()
				if keep {
					return &s.line, nil
				}
				continue
			}
		} else {
			rawFirst := s.raw != nil && !s.online && len(s.learn.shapes) == 0
			s.lr.bare = rawFirst
			raw, err := s.lr.next()
			if raw == nil && err == io.EOF {
				return nil, io.EOF
			}
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("reading build log: %w", err)
			}
			if rawFirst && err == nil && !s.lr.cut && s.raw(raw) {
				// As process would: a line that begins with '{' takes
				// the time of a timer line before it, and rawjson has
				// no use for it.
				s.timer = time.Time{}
				continue
			}
			cut, noCR = s.lr.cut, s.lr.noCR
			line = cleanLine(raw, s.lr.plain, s.lr.noE2, &s.scratch)
			if s.online {
				s.learn.vote(line)
				if s.learn.markers >= 64 {
					s.online = false
					s.learn.decide()
					s.release()
				}
			}
		}
		if s.process(line, cut, noCR) {
			return &s.line, nil
		}
	}
}

func (s *lineSource) release() { s.held, s.heldEnd = nil, []int{} }

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// process strips the prefix of one cleaned line and dates it. It reports
// false for lines that only carried a time (a CI page's timer lines), whose
// time goes to the next line.
func (s *lineSource) process(line []byte, cut, noCR bool) bool {
	var ts time.Time
	stripped := false
	if len(s.learn.shapes) > 0 {
		if rest, prefix, ok := s.learn.strip(line); ok {
			line, stripped = rest, true
			if bytes.IndexFunc(prefix, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0 {
				ts, _ = looseTime(prefix)
			}
		}
	}
	// stripPrefixes takes only lines that begin with a digit or a bracket;
	// most lines are spared the call.
	if !stripped && len(line) > 0 && (isDigit(line[0]) || line[0] == '[') {
		line, ts = stripPrefixes(line)
	}
	if ts.IsZero() {
		if len(line) > 0 && len(line) <= 40 && isDigit(line[0]) {
			if t, ok := timerLine(line); ok {
				s.timer = s.monotone(t)
				return false
			}
		}
		if !s.timer.IsZero() {
			ts, s.timer = s.timer, time.Time{}
		}
	} else {
		ts = s.monotone(ts)
	}
	overwritten := false
	if len(line) > 0 && line[0] == '\r' {
		overwritten = true
		line = bytes.TrimLeft(line, "\r")
	}
	// Field by field: a composite literal is built on the stack and then
	// copied in wide loads that stall on its narrow stores, once a line.
	s.line.text, s.line.ts = line, ts
	s.line.overwritten, s.line.cut, s.line.noCR = overwritten, cut, noCR
	return true
}

// monotone carries times of day without a date over midnight.
func (s *lineSource) monotone(t time.Time) time.Time {
	if t.IsZero() || t.Year() != noDate {
		return t
	}
	t = t.Add(s.dayShift)
	if !s.lastTS.IsZero() && t.Before(s.lastTS.Add(-12*time.Hour)) {
		s.dayShift += 24 * time.Hour
		t = t.Add(24 * time.Hour)
	}
	s.lastTS = t
	return t
}

// timerLine reports a line that holds only a time ("12:00:01",
// "2024-03-29 14:00:01"), as log viewers put between lines when a log is
// copied from a CI web page.
func timerLine(line []byte) (time.Time, bool) {
	for _, c := range line {
		if !(isDigit(c) || c == ':' || c == '.' || c == ',' || c == '-' || c == '/' || c == ' ' || c == 'T' || c == 'Z' || c == 'A' || c == 'P' || c == 'M' || c == '+') {
			return time.Time{}, false
		}
	}
	// "03:42" is how long a GitLab section took, not a time: a timer line
	// has seconds ("12:00:01") or a date.
	if bytes.Count(line, []byte(":")) < 2 && bytes.IndexAny(line, "-/") < 0 {
		return time.Time{}, false
	}
	return looseTime(line)
}

// eachLine feeds fn every line of r as the decoders see it.
func eachLine(r io.Reader, fn func(l *srcLine)) error {
	return eachLineLimit(r, maxKeptLine, fn)
}

func eachLineLimit(r io.Reader, limit int, fn func(l *srcLine)) error {
	return eachLineRaw(r, limit, nil, fn)
}

// eachLineRaw is eachLineLimit with lineSource.raw set to raw.
func eachLineRaw(r io.Reader, limit int, raw func(line []byte) bool, fn func(l *srcLine)) error {
	src := newLineSource(r, limit)
	src.raw = raw
	for {
		l, err := src.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		fn(l)
	}
}
