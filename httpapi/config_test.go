package httpapi

import (
	"errors"
	"net"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmon/bwmon/model"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantField string
		want      string // the start of the message; "" when valid
	}{
		{"default", Config{Listen: DefaultListen}, "", ""},
		{"off, with a token and origins", Config{Token: "s3cret", AllowedOrigins: []string{"https://Dash.Example:3000"}}, "", ""},
		{"ipv6 and any free port", Config{Listen: "[::1]:0"}, "", ""},
		{"bare port", Config{Listen: "8000"}, "listen", `bad listen address "8000": write "HOST:PORT"`},
		{"named port", Config{Listen: "127.0.0.1:http"}, "listen", "bad listen address"},
		{"plus sign", Config{Listen: "127.0.0.1:+80"}, "listen", "bad listen address"},
		{"host name", Config{Listen: "bwmon.lan:8000"}, "listen", `bad listen address "bwmon.lan:8000": the host must be an IP address`},
		{"token with a space", Config{Token: "two words"}, "token", "token may hold only printable ASCII"},
		{"origin without scheme", Config{AllowedOrigins: []string{"dash.example"}}, "allowed_origins", `allowed_origins: bad origin "dash.example"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *model.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || !strings.HasPrefix(fe.Err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want field %q and a message starting %q", err, tt.wantField, tt.want)
			}
			if tt.cfg.Token != "" && strings.Contains(err.Error(), tt.cfg.Token) {
				t.Fatalf("the error repeats the token: %v", err)
			}
		})
	}
}

// FuzzCheckListen: an accepted listen address is HOST:PORT with a port
// number and a host that needs no name lookup but "localhost".
func FuzzCheckListen(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8000", ":8000", "[::1]:0", "localhost:80", "8000", "127.0.0.1:+80", "h:70000", "[fe80::1%eth0]:1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		err := CheckListen(addr)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "bad listen address ") {
				t.Fatalf("CheckListen(%q): %v", addr, err)
			}
			return
		}
		if addr == "" {
			return
		}
		host, port, serr := net.SplitHostPort(addr)
		if serr != nil || !validPort(port) {
			t.Fatalf("CheckListen(%q) accepted a bad HOST:PORT", addr)
		}
		if host == "localhost" {
			return
		}
		if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
			t.Fatalf("CheckListen(%q) accepted what net cannot listen on: %v", addr, err)
		}
	})
}

// FuzzCheckToken: an accepted token is made of visible ASCII characters
// (RFC 9110 VCHAR: a header value with no space, control or 8-bit byte to
// split or smuggle), and the error never repeats the token.
func FuzzCheckToken(f *testing.F) {
	for _, s := range []string{"s3cret", "", "two words", "pässword", "a\x00b", "tok\r\nX-Evil: 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		err := CheckToken(tok)
		if err == nil {
			if !utf8.ValidString(tok) || strings.ContainsFunc(tok, func(r rune) bool { return r < '!' || r > '~' }) {
				t.Fatalf("CheckToken(%q) accepted what an HTTP header cannot carry", tok)
			}
			return
		}
		if len(tok) > 3 && strings.Contains(err.Error(), tok) {
			t.Fatalf("CheckToken(%q): the error repeats the token: %v", tok, err)
		}
	})
}
