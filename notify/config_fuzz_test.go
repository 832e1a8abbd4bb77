package notify

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/internal/redact"
)

// FuzzCheckWebhook checks the webhook URL validation: it never panics; a
// URL it accepts is an absolute http or https URL with a host that a POST
// request can be built for (so a delivery never fails on the URL itself);
// and what the log shows of it (redact.URL) is its scheme and host only,
// never credentials, path or query.
func FuzzCheckWebhook(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example/alert", "http://127.0.0.1:9093/hook", "http://user:secret@h/x?token=t",
		"ftp://h/x", "http:///hook", "/hook", "http://[::1]:9/x", "http://[fe80::1%25eth0]/", "HTTP://H/",
		"http://h:port/", "http://a@b@c/", "http://h/\x00", "https://h#frag", "http:h", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if err := CheckWebhook(u); err != nil {
			return
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			t.Fatalf("CheckWebhook accepted %q: parse %v, scheme %q, host %q", u, err, p.Scheme, p.Host)
		}
		if _, err := http.NewRequest(http.MethodPost, u, nil); err != nil {
			t.Fatalf("CheckWebhook accepted %q, for which no request can be built: %v", u, err)
		}
		shown := redact.URL(u)
		scheme, rest, ok := strings.Cut(shown, "://")
		host, tail := rest, ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			host, tail = rest[:i], rest[i:]
		}
		if !ok || !strings.EqualFold(scheme, p.Scheme) || strings.ContainsAny(host, "?#") ||
			(tail != "" && tail != "/" && tail != "/...") {
			t.Fatalf("redact.URL(%q) = %q, want only its scheme and host", u, shown)
		}
		if p.User != nil && strings.Contains(shown, "@") {
			t.Fatalf("redact.URL(%q) = %q shows the credentials", u, shown)
		}
	})
}
