package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
		"[[class]]\nname = \"lab\"\ncidr = [\"10.0.0.0/8\", \"fd00::/8\", \"10.1.2.3/8\"]\n[[notify]]\napp = \".\"\nclass = \"lab\"\nout_threshold = 1\n",
	}
}

// FuzzParseConfig: any text is a configuration every part's Validate
// accepts, or an *Error naming the file and, when it names a line, a line
// of the text; Parse never panics, and a webhook's secret never reaches
// the message.
func FuzzParseConfig(f *testing.F) {
	for _, s := range configSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := Parse("c.toml", text)
		if err == nil {
			if cfg == nil || cfg.Path != "c.toml" {
				t.Fatalf("Parse(%q) = %+v without an error", text, cfg)
			}
			if err := cfg.validate(); err != nil {
				t.Fatalf("Parse(%q) accepted what a part refuses: %v", text, err)
			}
			if d := cfg.State.Dir; d != "" && (!filepath.IsAbs(d) || filepath.Clean(d) != d) {
				t.Fatalf("Parse(%q): state dir %q is not absolute and clean", text, d)
			}
			return
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("Parse(%q): %v (%T), want a *Error", text, err, err)
		}
		if lines := strings.Count(text, "\n") + 1; ce.Path != "c.toml" || ce.Line < 0 || ce.Line > lines || ce.Msg == "" {
			t.Fatalf("Parse(%q): %#v: want path c.toml, a line in 0..%d and a message", text, ce, lines)
		}
		// "s3cret" is a secret where it is a webhook URL's password or the
		// [http] token; elsewhere (an app's name, even one that reads
		// ":s3cret@") a message may quote it.
		if n := secretUses.FindAllStringIndex(text, -1); len(n) > 0 && len(n) == strings.Count(text, "s3cret") && strings.Contains(ce.Msg, "s3cret") {
			t.Fatalf("Parse(%q): the message shows the secret: %s", text, ce.Msg)
		}
	})
}

// secretUses finds "s3cret" where the fuzzed text uses it as a secret:
// the password of a webhook's URL, the token (keys as the parser reads
// them, in any case).
var secretUses = regexp.MustCompile(`(?i:webhook)\s*=\s*["']+[^"'\n]*:s3cret@|(?i:token)\s*=\s*["']+s3cret`)

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

// FuzzDuration: a duration is what time.ParseDuration reads, or an error
// that says how to write one.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"30s", "1s", "10ms", "1m30s", "-1s", "fast", "9223372036s", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d duration
		err := d.UnmarshalText([]byte(s))
		want, perr := time.ParseDuration(s)
		switch {
		case (err == nil) != (perr == nil):
			t.Fatalf("duration %q: %v, time.ParseDuration: %v", s, err, perr)
		case err == nil && d.Duration != want:
			t.Fatalf("duration %q = %s, want %s", s, d.Duration, want)
		case err != nil && !strings.Contains(err.Error(), "write it like"):
			t.Fatalf("duration %q: %v: want how to write one", s, err)
		}
	})
}
