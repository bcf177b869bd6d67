package safe

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestJSONEncoder(t *testing.T) {
	v := map[string]any{
		"name":  "a\u009bb\u202ec\u2066d\u2028e\u2029f\x7fg",
		"html":  "<script>&",
		"plain": "ü ✅",
		"list":  []string{"\u0085"},
	}
	var buf bytes.Buffer
	enc := NewJSONEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	want := `{
  "html": "<script>&",
  "list": [
    "\u0085"
  ],
  "name": "a\u009bb\u202ec\u2066d\u2028e\u2029f\u007fg",
  "plain": "ü ✅"
}
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
	var back map[string]any
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back["name"] != v["name"] {
		t.Errorf("decodes as %q, want %q", back["name"], v["name"])
	}

	buf.Reset()
	enc = NewJSONEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode("<\u202e>"); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "\"\\u003c\\u202e\\u003e\"\n" {
		t.Errorf("with HTML escaping: %q", got)
	}
}

// Plain JSON is written exactly as encoding/json writes it.
func TestJSONEncoderUnchanged(t *testing.T) {
	v := map[string]any{"a": []any{1.5, "x<y", nil, true}, "b": "日本"}
	var ours, theirs bytes.Buffer
	NewJSONEncoder(&ours).Encode(v)
	enc := json.NewEncoder(&theirs)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	if ours.String() != theirs.String() {
		t.Errorf("got %q, encoding/json writes %q", ours.String(), theirs.String())
	}
}

// FuzzEscapeJSON: any string round-trips, and the encoding holds none of
// the characters that must be escaped.
func FuzzEscapeJSON(f *testing.F) {
	f.Add("a\u009b\u202e\x7f\u2028")
	f.Add("\xff<>&")
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		if err := NewJSONEncoder(&buf).Encode([]string{s}); err != nil {
			t.Fatal(err)
		}
		for _, r := range buf.String() {
			if r == 0x7f || replaced(r) {
				t.Fatalf("%q encodes with raw U+%04X: %s", s, r, buf.String())
			}
		}
		var back []string
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatalf("%q: %v in %s", s, err, buf.String())
		}
		// encoding/json replaces each invalid byte with U+FFFD, as a
		// conversion to runes does.
		want := []string{string([]rune(s))}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("%q decodes as %q", s, back)
		}
	})
}

// JSON printed to a CI log holds no in-line runner command: the second '#'
// of "##" and the characters .NET's matching skips are escaped.
func TestEscapeJSONInlineMarkers(t *testing.T) {
	var buf bytes.Buffer
	enc := NewJSONEncoder(&buf)
	in := []string{"x ##vso[task.complete]", "##[group]g", "#\u00ad#vso[x]", "###teamcity[y]", "#12 and # one"}
	if err := enc.Encode(in); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"##", "\u00ad"} {
		if strings.Contains(out, bad) {
			t.Errorf("JSON holds %q: %s", bad, out)
		}
	}
	var back []string
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || !reflect.DeepEqual(back, in) {
		t.Errorf("JSON decodes to %q, %v; want %q", back, err, in)
	}
	if !strings.Contains(out, `"#12 and # one"`) {
		t.Errorf("a lone # was escaped: %s", out)
	}
}
