package pipe

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

func TestCheckListen(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "every address", in: ":8080", want: ":8080"},
		{name: "bare port", in: "8080", want: ":8080"},
		{name: "IPv4 host", in: "127.0.0.1:80", want: "127.0.0.1:80"},
		{name: "IPv6 host", in: "[::1]:80", want: "[::1]:80"},
		{name: "port 0 picks one", in: ":0", want: ":0"},
		{name: "empty", in: "", err: "empty listen address"},
		{name: "no port", in: "localhost", err: "bad listen address \"localhost\""},
		{name: "port too big", in: ":70000", err: "must be a number from 1 to 65535"},
		{name: "port not a number", in: ":http", err: "must be a number"},
		{name: "bare IPv6 without brackets", in: "::1:80", err: "bad listen address"},
		{name: "control in the host", in: "local\nhost:80", err: "is not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckListen(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("CheckListen(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CheckListen(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{name: "name and port", in: "backend.example:80"},
		{name: "IPv6", in: "[2001:db8::1]:443"},
		{name: "empty", in: "", err: "empty target"},
		{name: "no port", in: "backend.example", err: "write \"HOST:PORT\""},
		{name: "no host", in: ":80", err: "the host is missing"},
		{name: "port 0", in: "h:0", err: "from 1 to 65535"},
		{name: "path, not host", in: "http://h/x:80", err: "bad target"},
		{name: "escape sequence in the host", in: "h\x1bc:80", err: "is not a host name"},
		{name: "bidi override in the host", in: "h\u202e:80", err: "is not a host name"},
		{name: "not UTF-8", in: "h\xff:80", err: "is not a host name"},
		{name: "host too long", in: strings.Repeat("h", 300) + ":80", err: "is not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTarget(tt.in)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("CheckTarget(%q) = %v, want error containing %q", tt.in, err, tt.err)
			}
		})
	}
}

func TestShortForm(t *testing.T) {
	tests := []struct {
		name, listen, target string
		wantL, wantT, err    string
	}{
		{name: "same port on the target", listen: "8080", target: "example.org", wantL: ":8080", wantT: "example.org:8080"},
		{name: "target port given", listen: "8080", target: "example.org:80", wantL: ":8080", wantT: "example.org:80"},
		{name: "full addresses", listen: "127.0.0.1:9000", target: "[::1]:22", wantL: "127.0.0.1:9000", wantT: "[::1]:22"},
		{name: "bare IPv6 target", listen: ":9000", target: "::1", wantL: ":9000", wantT: "[::1]:9000"},
		{name: "port 0 needs a target port", listen: "0", target: "h", err: "needs a port"},
		{name: "bad listen", listen: "x", target: "h:1", err: "bad listen address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, tg, err := ShortForm(tt.listen, tt.target)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ShortForm = %q, %q, %v; want error containing %q", l, tg, err, tt.err)
				}
				return
			}
			if err != nil || l != tt.wantL || tg != tt.wantT {
				t.Fatalf("ShortForm(%q, %q) = %q, %q, %v; want %q, %q", tt.listen, tt.target, l, tg, err, tt.wantL, tt.wantT)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want Config
		err  string
	}{
		{
			name: "defaults",
			cfg:  Config{Listen: ":8080", Target: "backend:80"},
			want: Config{Name: "pipe-8080:backend:80", Listen: ":8080", Target: "backend:80",
				MaxConns: DefaultMaxConns, IdleTimeout: DefaultIdleTimeout,
				DialTimeout: DefaultDialTimeout, DrainTimeout: DefaultDrainTimeout},
		},
		{
			name: "name with a host keeps the address",
			cfg:  Config{Listen: "127.0.0.1:8080", Target: "backend:80", MaxConns: 3, IdleTimeout: time.Minute},
			want: Config{Name: "pipe-127.0.0.1:8080:backend:80", Listen: "127.0.0.1:8080", Target: "backend:80",
				MaxConns: 3, IdleTimeout: time.Minute, DialTimeout: DefaultDialTimeout, DrainTimeout: DefaultDrainTimeout},
		},
		{
			name: "no limits",
			cfg:  Config{Listen: ":1", Target: "h:1", MaxConns: NoLimit, IdleTimeout: NoLimit},
			want: Config{Name: "pipe-1:h:1", Listen: ":1", Target: "h:1", MaxConns: NoLimit, IdleTimeout: NoLimit,
				DialTimeout: DefaultDialTimeout, DrainTimeout: DefaultDrainTimeout},
		},
		{
			name: "any negative is no limit",
			cfg:  Config{Listen: ":1", Target: "h:1", MaxConns: -7, IdleTimeout: -time.Second},
			want: Config{Name: "pipe-1:h:1", Listen: ":1", Target: "h:1", MaxConns: NoLimit, IdleTimeout: NoLimit,
				DialTimeout: DefaultDialTimeout, DrainTimeout: DefaultDrainTimeout},
		},
		{
			name: "hostile name is made safe",
			cfg:  Config{Name: "web\x1b[2J\u202e\xff", Listen: ":1", Target: "h:1"},
			want: Config{Name: `web\x1b[2J\u202e\xff`, Listen: ":1", Target: "h:1", MaxConns: DefaultMaxConns,
				IdleTimeout: DefaultIdleTimeout, DialTimeout: DefaultDialTimeout, DrainTimeout: DefaultDrainTimeout},
		},
		{
			name: "long name is cut",
			cfg:  Config{Name: strings.Repeat("n", 200<<10), Listen: ":1", Target: "h:1"},
			want: Config{Name: safename.Clean(strings.Repeat("n", 200<<10)), Listen: ":1", Target: "h:1", MaxConns: DefaultMaxConns,
				IdleTimeout: DefaultIdleTimeout, DialTimeout: DefaultDialTimeout, DrainTimeout: DefaultDrainTimeout},
		},
		{name: "negative rate limit", cfg: Config{Listen: ":1", Target: "h:1", RateLimit: -1}, err: "must not be negative"},
		{name: "negative dial timeout", cfg: Config{Listen: ":1", Target: "h:1", DialTimeout: -time.Second}, err: "must not be negative"},
		{name: "bad target", cfg: Config{Listen: ":1", Target: "h"}, err: "bad target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.withDefaults()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("withDefaults = %v, want error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("withDefaults = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestNewPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = New(Config{Listen: ln.Addr().String(), Target: "127.0.0.1:1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "another program") {
		t.Fatalf("New on a port in use: %v, want an error that says so and what to check", err)
	}
}

// FuzzShortForm feeds `bwmon pipe`'s arguments (and so CheckListen and
// CheckTarget, which it calls): whatever it accepts is a valid pair of
// addresses, and the pipe's default name made of them is a clean name.
func FuzzShortForm(f *testing.F) {
	for _, seed := range [][2]string{
		{"8080", "example.org"}, {"127.0.0.1:9000", "[::1]:22"}, {":9000", "::1"}, {"0", "h"},
		{"[::1]:80", "h\x1b[2J:80"}, {"x", "h:1"}, {":70000", "h:0"}, {"[fe80::1%eth0]:1", "h\u202e:80"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, listen, target string) {
		l, tg, err := ShortForm(listen, target)
		if err != nil {
			return
		}
		if again, err := CheckListen(l); err != nil || again != l {
			t.Fatalf("ShortForm(%q, %q) gave listen %q, which CheckListen makes %q, %v", listen, target, l, again, err)
		}
		if err := CheckTarget(tg); err != nil {
			t.Fatalf("ShortForm(%q, %q) gave target %q, which CheckTarget refuses: %v", listen, target, tg, err)
		}
		if name := DefaultName(l, tg); !utf8.ValidString(name) || safename.Clean(name) != name && len(name) <= safename.MaxLen {
			t.Fatalf("default name %q of %q and %q is not clean", name, l, tg)
		}
	})
}

// TestValidate: each value Validate refuses is named by its key in a
// [[monitor]] type = "pipe" table, with the message the file's author
// reads.
func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantField string
		want      string // the start of the message; "" when valid
	}{
		{"valid", Config{Listen: ":8080", Target: "h:80"}, "", ""},
		{"bare port, no limits", Config{Listen: "8080", Target: "h:80", MaxConns: NoLimit, IdleTimeout: -time.Second}, "", ""},
		{"no listen", Config{Target: "h:80"}, "", `pipe needs listen = ":PORT"`},
		{"bad listen", Config{Listen: "localhost", Target: "h:80"}, "listen", `listen: bad listen address "localhost"`},
		{"no target", Config{Listen: ":8080"}, "", `pipe needs target = "HOST:PORT"`},
		{"target without port", Config{Listen: ":8080", Target: "backend"}, "target", `target: bad target "backend": write "HOST:PORT"`},
		{"negative rate", Config{Listen: ":8080", Target: "h:80", RateLimit: -1}, "rate_limit", "rate_limit must not be negative"},
		{"negative dial timeout", Config{Listen: ":8080", Target: "h:80", DialTimeout: -time.Second}, "dial_timeout", "dial_timeout -1s must not be negative"},
		{"negative drain timeout", Config{Listen: ":8080", Target: "h:80", DrainTimeout: -time.Second}, "drain_timeout", "drain_timeout -1s must not be negative"},
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
		})
	}
}

func TestOrNoLimit(t *testing.T) {
	if OrNoLimit(0) != NoLimit || OrNoLimit(time.Duration(0)) != NoLimit || OrNoLimit(5) != 5 || OrNoLimit(time.Minute) != time.Minute {
		t.Fatal("OrNoLimit: want 0 to become NoLimit and the rest to stay")
	}
}
