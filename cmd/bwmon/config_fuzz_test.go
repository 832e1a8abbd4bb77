package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// configSeeds are files the fuzz targets start from: the example, the
// shapes the table tests use, and the corners of the line locator
// (multi-line arrays and strings, quoted and dotted keys, inline tables).
func configSeeds(f *testing.F) []string {
	example, err := os.ReadFile("../../config.example.toml")
	if err != nil {
		f.Fatal(err)
	}
	return []string{
		string(example),
		"",
		"interval = \"2s\"\nauto_group = false\n[conntrack]\nmanage = false\n",
		"[[app]]\nname = \"web\"\nmatch = [\n  \"nginx\", # a comment ]\n  \"x[\",\n]\n[[app]]\nname = \"db\"\nmatc = [\"y\"]\n",
		"[[monitor]]\ntype = \"pipe\"\nlisten = \":8080\"\ntarget = \"h:80\"\nmax_conns = -1\n",
		"[[notify]]\napp = \".*\"\nin_threshold = \"1MB/s\"\nwebhook = \"https://user:s3cret@hooks.example/t0ken?k=v\"\n",
		"[state]\ndir = \"state\"\nflush = \"10ms\"\n[http]\nlisten = \"8000\"\ntoken = \"two words\"\n",
		"a = \"\"\"\n[fake]\nb = 1\n\"\"\"\n[http]\nlisten = \"\"\nallowed_origins = ['''x\n]''']\n",
		"\"quoted.key\" = 1\nsite.\"google.com\" = true\n[ a . b ]\nc = { d = 1, e = [1, 2] }\n",
		"auto_group = \"yes\"\n",
		"[limits]\napps = -1\nactive_window = \"1ns\"\n",
		"interval = \"1s\"\r\nauto_group = \r\n",
	}
}

// FuzzParseConfig: any text is a configuration or a *ConfigError naming
// the file and, when it names a line, a line of the text; ParseConfig
// never panics, and a webhook's secret never reaches the message.
func FuzzParseConfig(f *testing.F) {
	for _, s := range configSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := ParseConfig("c.toml", text)
		if err == nil {
			if cfg == nil || cfg.Path != "c.toml" || cfg.Aggregator.Interval < 100*time.Millisecond {
				t.Fatalf("ParseConfig(%q) = %+v without an error", text, cfg)
			}
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("ParseConfig(%q): %v (%T), want a *ConfigError", text, err, err)
		}
		if lines := strings.Count(text, "\n") + 1; ce.Path != "c.toml" || ce.Line < 0 || ce.Line > lines || ce.Msg == "" {
			t.Fatalf("ParseConfig(%q): %#v: want path c.toml, a line in 0..%d and a message", text, ce, lines)
		}
		if strings.Contains(text, "s3cret") && strings.Contains(ce.Msg, "s3cret") {
			t.Fatalf("ParseConfig(%q): the message shows the secret: %s", text, ce.Msg)
		}
	})
}

// FuzzLocateKeys: every line the locator gives is a line of the text, and
// in a file that decodes, every key the decoder saw has one.
func FuzzLocateKeys(f *testing.F) {
	for _, s := range configSeeds(f) {
		f.Add(s, "app.matc")
	}
	f.Fuzz(func(t *testing.T, text, key string) {
		kl := locateKeys(text)
		lines := strings.Count(text, "\n") + 1
		for k, n := range kl {
			if n < 1 || n > lines {
				t.Fatalf("locateKeys(%q)[%q] = %d, want 1..%d", text, k, n, lines)
			}
		}
		if n := kl.line(key); n < 0 || n > lines {
			t.Fatalf("line(%q) = %d in %q, want 0..%d", key, n, text, lines)
		}
		var v map[string]any
		md, err := toml.Decode(text, &v)
		if err != nil {
			return
		}
		for _, k := range md.Keys() {
			if kl.line(k.String()) == 0 {
				t.Fatalf("key %q of %q has no line; located: %v", k.String(), text, kl)
			}
		}
	})
}

// FuzzCheckListen: an accepted listen address is HOST:PORT with a port
// number and a host that needs no name lookup but "localhost".
func FuzzCheckListen(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8000", ":8000", "[::1]:0", "localhost:80", "8000", "127.0.0.1:+80", "h:70000", "[fe80::1%eth0]:1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		err := checkListen(addr)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "bad listen address ") {
				t.Fatalf("checkListen(%q): %v", addr, err)
			}
			return
		}
		if addr == "" {
			return
		}
		host, port, serr := net.SplitHostPort(addr)
		if serr != nil || !validPort(port) {
			t.Fatalf("checkListen(%q) accepted a bad HOST:PORT", addr)
		}
		if host == "localhost" {
			return
		}
		if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
			t.Fatalf("checkListen(%q) accepted what net cannot listen on: %v", addr, err)
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
		err := checkToken(tok)
		if err == nil {
			if !utf8.ValidString(tok) || strings.ContainsFunc(tok, func(r rune) bool { return r < '!' || r > '~' }) {
				t.Fatalf("checkToken(%q) accepted what an HTTP header cannot carry", tok)
			}
			return
		}
		if len(tok) > 3 && strings.Contains(err.Error(), tok) {
			t.Fatalf("checkToken(%q): the error repeats the token: %v", tok, err)
		}
	})
}

// FuzzStateValidators: [state] dir is "" or an absolute clean path, or an
// error; a flush is a Go duration of at least a second.
func FuzzStateValidators(f *testing.F) {
	for _, s := range []struct{ dir, flush string }{
		{"/var/lib/bwmon", "30s"}, {"", "1s"}, {"state", "10ms"}, {"/a/../b/", "1m30s"}, {"/x\x00y", "-1s"}, {"//", "fast"}, {"/", "9223372036s"},
	} {
		f.Add(s.dir, s.flush)
	}
	f.Fuzz(func(t *testing.T, dir, flush string) {
		got, err := checkStateDir(dir)
		switch {
		case err != nil && (dir == "" || filepath.IsAbs(dir)):
			t.Fatalf("checkStateDir(%q): %v", dir, err)
		case err == nil && dir == "" && got != "":
			t.Fatalf("checkStateDir(\"\") = %q", got)
		case err == nil && dir != "" && (!filepath.IsAbs(got) || filepath.Clean(got) != got):
			t.Fatalf("checkStateDir(%q) = %q, not absolute and clean", dir, got)
		}
		var d duration
		if err := d.UnmarshalText([]byte(flush)); err != nil {
			if _, perr := time.ParseDuration(flush); perr == nil {
				t.Fatalf("duration %q refused: %v", flush, err)
			}
			return
		}
		if ferr := checkFlush(d.Duration); (ferr == nil) != (d.Duration >= time.Second) {
			t.Fatalf("checkFlush(%s) = %v", d.Duration, ferr)
		}
	})
}

// redactedURL is what redactURL may return.
var redactedURL = regexp.MustCompile(`^(\(URL hidden\)|[A-Za-z][A-Za-z0-9+.-]*://(\(hidden\)|[A-Za-z0-9._~%:\[\]-]*)(/|/\.\.\.)?)$`)

// FuzzRedactURLs: whatever the text, every URL left in it is reduced to
// scheme://host (no "@", no path or query), and redacting twice changes
// nothing more.
func FuzzRedactURLs(f *testing.F) {
	for _, s := range []string{
		"posting to https://u:s3cret@h.example/x?y=z failed",
		`bad webhook URL "https://u:a\"b c@h/x": invalid userinfo`,
		"a=http://h1/secret b=https://u:p@h2 ://x",
		`"https://user:pa/ss@h.example/x`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := redactURL(s); !redactedURL.MatchString(got) {
			t.Fatalf("redactURL(%q) = %q", s, got)
		}
		once := redactURLs(s)
		if twice := redactURLs(once); twice != once {
			t.Fatalf("redactURLs not stable on %q:\n%q\n%q", s, once, twice)
		}
	})
}
