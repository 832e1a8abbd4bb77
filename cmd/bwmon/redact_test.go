package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoggerRedacts: no record of the agent's logger shows a URL's
// userinfo, path or query, whichever way the URL reaches it.
func TestLoggerRedacts(t *testing.T) {
	const secret = "https://user:s3cret@hooks.example/services/T0/B0/t0ken?k=v"
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			logger, err := newLogger(&buf, format, "debug")
			if err != nil {
				t.Fatal(err)
			}
			logger.Info("posting to " + secret)
			logger.Warn("webhook failed", "webhook", secret, "err", errors.New(`post "`+secret+`": refused`))
			logger.With("webhook", secret).WithGroup("g").Error("in a group", slog.Group("rule", "url", secret), "any", []string{secret})
			logger.Debug("stringer", "u", stringer(secret))
			out := buf.String()
			for _, leak := range []string{"s3cret", "user", "services", "t0ken", "k=v"} {
				if strings.Contains(out, leak) {
					t.Fatalf("log shows %q:\n%s", leak, out)
				}
			}
			if n := strings.Count(out, "https://hooks.example/..."); n != 7 {
				t.Fatalf("log names the host %d times, want 7 (every URL redacted, none dropped):\n%s", n, out)
			}
		})
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

// TestCheckConfigHidesWebhookCredentials reproduces the review's finding:
// `bwmon -check-config` printed a webhook URL with its credentials.
func TestCheckConfigHidesWebhookCredentials(t *testing.T) {
	const rule = "[[notify]]\napp = \".*\"\nin_threshold = \"1MB/s\"\n"
	tests := []struct {
		name, webhook, want string
		code                int
	}{
		{"valid", "https://user:s3cret@hooks.example/t0ken?k=v", "ok", 0},
		{"not http", "ftp://user:s3cret@hooks.example/t0ken", `bad webhook URL "ftp://hooks.example/..."`, 2},
		{"bad userinfo", "https://user:s3 cret@hooks.example/t0ken", `bad webhook URL "https://hooks.example/..."`, 2},
		{"bad port", "https://user:s3cret@hooks.example:t0ken/x", `bad webhook URL "https://(hidden)/...": invalid port "(hidden)" after host`, 2},
		{"no user", "https://s3cret:t0ken/x", `bad webhook URL "https://(hidden)/...": invalid port "(hidden)" after host`, 2},
		{"no scheme", "user:s3cret@hooks.example/t0ken", `bad webhook URL "(URL hidden)"`, 2},
		{"not a string", "", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := rule + "webhook = \"" + tt.webhook + "\"\n"
			if tt.webhook == "" {
				text = rule + "webhook = [\"https://user:s3cret@hooks.example/t0ken\"]\n"
			}
			path := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"-check-config", "-config", path}, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tt.code, tt.want)
			}
			for _, leak := range []string{"s3", "t0ken", "user:"} {
				if strings.Contains(out, leak) {
					t.Fatalf("-check-config shows %q:\n%s", leak, out)
				}
			}
		})
	}
}
