package store

import (
	"bytes"
	"testing"
)

func TestBuildLogRoundTrip(t *testing.T) {
	text := bytes.Repeat([]byte("#5 0.123 hello\n"), 1000)
	l := NewBuildLog(text, true)
	if len(l.Gz) >= len(text)/10 || !l.Truncated || l.Bytes != int64(len(text)) {
		t.Fatalf("gz %d bytes of %d, %+v", len(l.Gz), len(text), l.Truncated)
	}
	got, err := l.Text()
	if err != nil || !bytes.Equal(got, text) {
		t.Fatalf("round trip: %v", err)
	}
	l.Bytes--
	if _, err := l.Text(); err == nil {
		t.Fatal("a length that does not match was not noticed")
	}
}
