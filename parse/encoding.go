package parse

import (
	"bufio"
	"bytes"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// Logs saved on Windows are often UTF-16: PowerShell's `>`, `*>`, Out-File
// and Tee-Object write UTF-16 LE with a byte order mark. Every entry point
// decodes the input to UTF-8 while it streams, so the decoders only ever see
// UTF-8.

type textEncoding int

const (
	encUTF8 textEncoding = iota
	encUTF8BOM
	encUTF16LE
	encUTF16BE
)

// sniffEncoding names the encoding of a stream from its first bytes: a byte
// order mark, or, without one, the NUL bytes that ASCII text has in every
// other byte when it is UTF-16.
func sniffEncoding(head []byte) textEncoding {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		return encUTF8BOM
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return encUTF16LE
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return encUTF16BE
	}
	// Without a mark: mostly ASCII text with a NUL in every other byte.
	n := min(len(head), 512) &^ 1
	if n < 8 {
		return encUTF8
	}
	var evenNUL, oddNUL int
	for i := 0; i < n; i += 2 {
		if head[i] == 0 {
			evenNUL++
		}
		if head[i+1] == 0 {
			oddNUL++
		}
	}
	pairs := n / 2
	switch {
	case oddNUL*10 >= pairs*9 && evenNUL*10 < pairs:
		return encUTF16LE
	case evenNUL*10 >= pairs*9 && oddNUL*10 < pairs:
		return encUTF16BE
	}
	return encUTF8
}

// decodeInput returns a reader of r's text as UTF-8, without a byte order
// mark. br must wrap the input; the result reads through it.
func decodeInput(br *bufio.Reader) io.Reader {
	head, _ := br.Peek(512)
	switch sniffEncoding(head) {
	case encUTF8BOM:
		_, _ = br.Discard(3)
	case encUTF16LE:
		if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) {
			_, _ = br.Discard(2)
		}
		return &utf16Reader{r: br, le: true}
	case encUTF16BE:
		if bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
			_, _ = br.Discard(2)
		}
		return &utf16Reader{r: br}
	}
	return br
}

// decodeHead converts the first bytes of an input to UTF-8 for Detect; an
// odd final byte or a cut surrogate pair is dropped.
func decodeHead(head []byte) []byte {
	enc := sniffEncoding(head)
	switch enc {
	case encUTF8BOM:
		return head[3:]
	case encUTF16LE, encUTF16BE:
		if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
			head = head[2:]
		}
		out, _, _ := utf16ToUTF8(make([]byte, 0, len(head)*3/2), head, enc == encUTF16LE)
		return out
	}
	return head
}

// utf16Reader decodes UTF-16 to UTF-8 while streaming.
type utf16Reader struct {
	r   io.Reader
	le  bool
	in  []byte // undecoded input: an odd byte or a high surrogate carried over
	out []byte // decoded, not yet returned
	off int
	err error
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for u.off == len(u.out) {
		if u.err != nil {
			if len(u.in) > 0 { // a final odd byte or lone surrogate
				u.in = u.in[:0]
				u.out, u.off = append(u.out[:0], "\uFFFD"...), 0
				break
			}
			return 0, u.err
		}
		if cap(u.in) < 64<<10 {
			u.in = make([]byte, len(u.in), 64<<10)
		}
		n, err := u.r.Read(u.in[len(u.in):cap(u.in)])
		u.in = u.in[:len(u.in)+n]
		u.err = err
		var used int
		u.out, used, _ = utf16ToUTF8(u.out[:0], u.in, u.le)
		u.off = 0
		u.in = u.in[:copy(u.in, u.in[used:])]
	}
	n := copy(p, u.out[u.off:])
	u.off += n
	return n, nil
}

// utf16ToUTF8 appends the UTF-8 form of src to dst and reports how many
// bytes of src it used: an odd last byte or a high surrogate whose pair has
// not arrived is left for the next call.
func utf16ToUTF8(dst, src []byte, le bool) ([]byte, int, bool) {
	i := 0
	for i+1 < len(src) {
		u := uint16(src[i])<<8 | uint16(src[i+1])
		if le {
			u = uint16(src[i+1])<<8 | uint16(src[i])
		}
		if utf16.IsSurrogate(rune(u)) && u < 0xDC00 {
			if i+3 >= len(src) {
				break // wait for the low half
			}
			u2 := uint16(src[i+2])<<8 | uint16(src[i+3])
			if le {
				u2 = uint16(src[i+3])<<8 | uint16(src[i+2])
			}
			if r := utf16.DecodeRune(rune(u), rune(u2)); r != utf8.RuneError {
				dst = utf8.AppendRune(dst, r)
				i += 4
				continue
			}
			dst = utf8.AppendRune(dst, utf8.RuneError)
			i += 2
			continue
		}
		if u < utf8.RuneSelf {
			dst = append(dst, byte(u))
		} else {
			dst = utf8.AppendRune(dst, rune(u))
		}
		i += 2
	}
	return dst, i, true
}
