package safename

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the length, in bytes, that Clean cuts a name to. It bounds what
// one name costs everywhere it goes: 256 bytes hold any file name (Linux's
// NAME_MAX is 255) and the start of a long command line.
const MaxLen = 256

// ellipsis marks a name Clean cut.
const ellipsis = "…"

const hexDigits = "0123456789abcdef"

// Clean returns s as bwmon shows and keeps it: valid UTF-8, with every
// byte that is not UTF-8 and every control, format, line- or
// paragraph-separator character written as a visible escape, cut to at most
// MaxLen bytes (with "…" at the end when cut).
func Clean(s string) string { return CleanN(s, MaxLen) }

// CleanN is Clean with a length limit of n bytes instead of MaxLen; n below
// 8 is taken as 8.
func CleanN(s string, n int) string {
	n = max(n, 8)
	if isClean(s) {
		if len(s) <= n {
			return s
		}
		return cut(s, n)
	}
	var b strings.Builder
	b.Grow(min(len(s), n) + 8)
	for i := 0; i < len(s) && b.Len() <= n; {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			writeByte(&b, s[i])
		case r < 0x80 && (r < 0x20 || r == 0x7f):
			writeByte(&b, byte(r))
		case mustEscape(r):
			writeRune(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	out := b.String()
	if len(out) <= n {
		return out
	}
	return cut(out, n)
}

// isClean reports whether s is valid UTF-8 without anything Clean escapes:
// the common case, which costs no allocation.
func isClean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || mustEscape(r) {
			return false
		}
		i += size
	}
	return true
}

// mustEscape reports whether a rune of U+0080 or above is shown escaped:
// everything but letters, marks, numbers, punctuation, symbols and spaces.
// That is C1 controls (Cc), format characters (Cf: bidi overrides,
// isolates and marks, zero-width characters, the byte-order mark, soft
// hyphen), the line and paragraph separators, surrogates, and private-use
// and unassigned code points, which no two fonts draw the same.
func mustEscape(r rune) bool {
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs)
}

// writeByte writes \xNN.
func writeByte(b *strings.Builder, c byte) {
	b.WriteString(`\x`)
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&0xf])
}

// writeRune writes \uNNNN, or \UNNNNNNNN above the Basic Multilingual Plane.
func writeRune(b *strings.Builder, r rune) {
	digits := 4
	if r > 0xffff {
		b.WriteString(`\U`)
		digits = 8
	} else {
		b.WriteString(`\u`)
	}
	for shift := (digits - 1) * 4; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(r>>shift)&0xf])
	}
}

// cut shortens the clean s to at most n bytes at a rune boundary, ending it
// with the ellipsis.
func cut(s string, n int) string {
	end := n - len(ellipsis)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + ellipsis
}

// Display shortens the clean name s to at most width runes for a column of
// a table, ending it with "…" when cut. It does not escape: pass it what
// Clean returned.
func Display(s string, width int) string {
	if width < 2 || utf8.RuneCountInString(s) <= width {
		return s
	}
	i, n := 0, 0
	for i < len(s) && n < width-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return s[:i] + ellipsis
}
