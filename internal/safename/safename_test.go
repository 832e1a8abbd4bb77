package safename

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "curl", "curl"},
		{"spaces and unicode kept", "python3 früh 日本 ✓", "python3 früh 日本 ✓"},
		{"invalid byte", "x\xffy", `x\xffy`},
		{"truncated rune", "a\xe2\x82", `a\xe2\x82`},
		{"escape sequence", "evil\x1b[2Jname", `evil\x1b[2Jname`},
		{"newline and tab", "a\nb\tc", `a\x0ab\x09c`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 CSI", "a\u009b31mb", `a\u009b31mb`},
		{"bidi override", "gpj.\u202eexe", `gpj.\u202eexe`},
		{"bidi isolate", "\u2066x\u2069", `\u2066x\u2069`},
		{"bidi marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"zero width", "a\u200bb\ufeff", `a\u200bb\ufeff`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"private use above the BMP", "a\U000F0000", `a\U000f0000`},
		{"surrogate bytes", "a\xed\xa0\x80", `a\xed\xa0\x80`},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clean(tt.in); got != tt.want {
				t.Fatalf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanCuts(t *testing.T) {
	long := strings.Repeat("a", 200*1024)
	got := Clean(long)
	if len(got) > MaxLen || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "aaaa") {
		t.Fatalf("Clean of 200 KB: %d bytes, %q…", len(got), got[:16])
	}
	// Escapes count toward the length: 4 KB of invalid bytes stay bounded.
	got = Clean(strings.Repeat("\xff", 4096))
	if len(got) > MaxLen || !strings.HasPrefix(got, `\xff\xff`) {
		t.Fatalf("Clean of 4 KB of 0xff: %d bytes", len(got))
	}
	// A cut never splits a rune.
	got = CleanN(strings.Repeat("日", 100), 20)
	if !utf8.ValidString(got) || len(got) > 20 {
		t.Fatalf("CleanN(日×100, 20) = %q (%d bytes)", got, len(got))
	}
	if got := Clean(strings.Repeat("b", MaxLen)); len(got) != MaxLen || strings.HasSuffix(got, "…") {
		t.Fatalf("a name of exactly MaxLen bytes is kept whole: got %d bytes", len(got))
	}
}

func TestCleanAllocatesNothingWhenClean(t *testing.T) {
	s := "nginx: worker process"
	if n := testing.AllocsPerRun(100, func() { _ = Clean(s) }); n != 0 {
		t.Fatalf("Clean of a clean name allocates %v times", n)
	}
}

func TestDisplay(t *testing.T) {
	tests := []struct {
		name, in string
		width    int
		want     string
	}{
		{"fits", "curl", 10, "curl"},
		{"cut", "abcdefghij", 5, "abcd…"},
		{"runes not bytes", "日本語テキスト", 4, "日本語…"},
		{"exact", "abcde", 5, "abcde"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Display(tt.in, tt.width); got != tt.want {
				t.Fatalf("Display(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
			}
		})
	}
}

// FuzzClean checks what every caller relies on: the result is valid UTF-8,
// holds no control, format or separator character, is at most MaxLen
// bytes, and is its own Clean.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"curl", "x\xffy", "\u009b", "\u202e", "\x1b[2J", strings.Repeat("é", 300), "a\u200db"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Clean(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Clean(%q) = %q: not valid UTF-8", s, got)
		}
		if len(got) > MaxLen {
			t.Fatalf("Clean(%q): %d bytes, over MaxLen", s, len(got))
		}
		for _, r := range got {
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co) {
				t.Fatalf("Clean(%q) = %q keeps %U", s, got, r)
			}
		}
		if again := Clean(got); again != got {
			t.Fatalf("Clean is not idempotent: %q → %q → %q", s, got, again)
		}
		if isClean(s) && len(s) <= MaxLen && got != s {
			t.Fatalf("Clean changed the clean name %q to %q", s, got)
		}
	})
}
