package store

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

// NewBuildLog gzips text as a kept log.
func NewBuildLog(text []byte, truncated bool) *BuildLog {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level: no error
	_, _ = zw.Write(text)                              // a bytes.Buffer does not fail
	_ = zw.Close()
	return &BuildLog{Gz: buf.Bytes(), Bytes: int64(len(text)), Truncated: truncated}
}

// Text is the log's text, read back from its gzip form.
func (l *BuildLog) Text() ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.Gz))
	if err != nil {
		return nil, fmt.Errorf("kept log: %w", err)
	}
	// The stored length bounds what is read: a damaged row cannot make it
	// inflate without end.
	text, err := io.ReadAll(io.LimitReader(zr, l.Bytes+1))
	if err != nil {
		return nil, fmt.Errorf("kept log: %w", err)
	}
	if int64(len(text)) != l.Bytes {
		return nil, fmt.Errorf("kept log: %d bytes, the record says %d", len(text), l.Bytes)
	}
	return text, nil
}
