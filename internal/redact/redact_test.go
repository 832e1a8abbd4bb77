package redact

import (
	"regexp"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"host only", "https://hooks.example", "https://hooks.example"},
		{"root path", "http://127.0.0.1:8000/", "http://127.0.0.1:8000/"},
		{"path", "https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com/..."},
		{"userinfo", "https://user:secret@hooks.example/x", "https://hooks.example/..."},
		{"userinfo, no path", "https://user:secret@hooks.example", "https://hooks.example"},
		{"query", "https://h.example?token=secret", "https://h.example/..."},
		{"fragment", "https://h.example#secret", "https://h.example/..."},
		{"ipv6 and port", "http://[::1]:8000/x", "http://[::1]:8000/..."},
		{"password with a slash", "https://user:pa/ss@h.example/x", "https://(hidden)/..."},
		{"password with a question mark", "https://user:pa?ss@h.example", "https://(hidden)/..."},
		{"password with a space", "https://user:pa ss@h.example", "https://h.example"},
		{"no scheme", "user:secret@h.example/x", "(URL hidden)"},
		{"relative", "/hook?token=secret", "(URL hidden)"},
		{"bad scheme", "1x://h/secret", "(URL hidden)"},
		{"port not a number", "https://h.example:s3cret/x", "https://(hidden)/..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := URL(tt.in); got != tt.want {
				t.Fatalf("URL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"none", "plain text: no URL", "plain text: no URL"},
		{"bare", "posting to https://u:secret@h.example/x?y=z failed", "posting to https://h.example/... failed"},
		{"quoted", `bad webhook URL "https://u:sec ret@h.example/x": net/url: invalid userinfo`, `bad webhook URL "https://h.example/...": net/url: invalid userinfo`},
		{"quoted with an escaped quote", `url "https://u:a\"b@h/x" end`, `url "https://h/..." end`},
		{"two", "a=http://h1/secret b=https://u:p@h2", "a=http://h1/... b=https://h2"},
		{"unterminated quote", `"https://u:secret@h/x`, `"https://h/...`},
		{"scheme-less separator", "x ://secret", "x (URL hidden)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := URLs(tt.in); got != tt.want {
				t.Fatalf("URLs(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestValues(t *testing.T) {
	values := []string{"user:s3cret@h.example/x", "https://h2.example/t0ken"}
	tests := []struct{ name, in, want string }{
		{"whole, no scheme", `bad webhook URL "user:s3cret@h.example/x": want http`, `bad webhook URL "(URL hidden)": want http`},
		{"whole, scheme", `bad "https://h2.example/t0ken"`, `bad "https://h2.example/..."`},
		{"part", `invalid port ":s3cret@h" after host`, `invalid port "(hidden)" after host`},
		{"unrelated quote", `key "notify.webhook" and "zzz"`, `key "notify.webhook" and "zzz"`},
		{"unterminated", `bad "user:s3cret@h.example/x`, `bad "user:s3cret@h.example/x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Values(tt.in, values); got != tt.want {
				t.Fatalf("Values(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// redactedURL is what URL may return.
var redactedURL = regexp.MustCompile(`^(\(URL hidden\)|[A-Za-z][A-Za-z0-9+.-]*://(\(hidden\)|[A-Za-z0-9._~%:\[\]-]*)(/|/\.\.\.)?)$`)

// FuzzRedactURLs: whatever the text, every URL left in it is reduced to
// scheme://host (no "@", no path or query), and redacting twice changes
// nothing more.
func FuzzURLs(f *testing.F) {
	for _, s := range []string{
		"posting to https://u:s3cret@h.example/x?y=z failed",
		`bad webhook URL "https://u:a\"b c@h/x": invalid userinfo`,
		"a=http://h1/secret b=https://u:p@h2 ://x",
		`"https://user:pa/ss@h.example/x`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := URL(s); !redactedURL.MatchString(got) {
			t.Fatalf("URL(%q) = %q", s, got)
		}
		once := URLs(s)
		if twice := URLs(once); twice != once {
			t.Fatalf("URLs not stable on %q:\n%q\n%q", s, once, twice)
		}
	})
}
