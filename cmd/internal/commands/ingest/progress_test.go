package ingest

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := &progressBar{w: &buf, total: 4, enabled: true}
	p.update(0, "a.log")
	p.update(2, "much-longer-name.log")
	p.update(3, "b.log")
	p.clear()
	want := "\r[>                       ] 0/4 a.log" +
		"\r[============>           ] 2/4 much-longer-name.log" +
		"\r[==================>     ] 3/4 b.log" + strings.Repeat(" ", 15) +
		"\r" + strings.Repeat(" ", 36) + "\r"
	if buf.String() != want {
		t.Errorf("progress output\n%q\nwant\n%q", buf.String(), want)
	}
	buf.Reset()
	off := &progressBar{w: &buf, total: 4}
	off.update(1, "a.log")
	off.clear()
	if buf.Len() != 0 {
		t.Errorf("a disabled bar wrote %q", buf.String())
	}
}
