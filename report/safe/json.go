package safe

import (
	"bytes"
	"encoding/json"
	"io"
	"unicode"
	"unicode/utf8"
)

// JSONEncoder writes JSON values like encoding/json.Encoder, with HTML
// escaping off by default, and with the characters encoding/json leaves
// raw in strings written as \uXXXX: DEL, C1 controls (U+0080–U+009F),
// bidi controls, U+2028 and U+2029. A terminal or browser showing the
// JSON then shows the escape, not the control; the decoded value is the
// same.
type JSONEncoder struct {
	w              io.Writer
	prefix, indent string
	escapeHTML     bool
}

// NewJSONEncoder returns an encoder writing to w.
func NewJSONEncoder(w io.Writer) *JSONEncoder { return &JSONEncoder{w: w} }

// SetIndent indents like encoding/json.Encoder.SetIndent.
func (e *JSONEncoder) SetIndent(prefix, indent string) { e.prefix, e.indent = prefix, indent }

// SetEscapeHTML turns on encoding/json's escaping of <, > and & (off by
// default: the output is JSON, and logs are full of them).
func (e *JSONEncoder) SetEscapeHTML(on bool) { e.escapeHTML = on }

// Encode writes v followed by a newline, as encoding/json.Encoder.Encode.
func (e *JSONEncoder) Encode(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(e.escapeHTML)
	enc.SetIndent(e.prefix, e.indent)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := e.w.Write(EscapeJSON(buf.Bytes()))
	return err
}

// EscapeJSON rewrites valid JSON text so that DEL, C1 controls, bidi
// controls, U+2028, U+2029 and the other format characters (soft hyphen,
// zero-width spaces, BOM: what .NET's culture-sensitive matching skips)
// are written as \uXXXX escapes, and so is the second of two '#' in a row:
// the Azure and GitHub runners act on "##vso[" and "##[" anywhere in a
// line, so JSON printed to a CI log must not hold them literally. In valid
// JSON such characters can only be inside strings, where the escape means
// the same character; everything else is unchanged.
func EscapeJSON(data []byte) []byte {
	escape := func(r rune, prev byte) bool {
		return r == 0x7f || r != utf8.RuneError && (replaced(r) || unicode.Is(unicode.Cf, r)) || r == '#' && prev == '#'
	}
	clean := true
	var prev byte
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if escape(r, prev) {
			clean = false
			break
		}
		prev = data[i+size-1]
		i += size
	}
	if clean {
		return data
	}
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(data)+32)
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		var last byte
		if len(out) > 0 {
			last = out[len(out)-1]
		}
		if escape(r, last) {
			out = append(out, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		} else {
			out = append(out, data[i:i+size]...)
		}
		i += size
	}
	return out
}
