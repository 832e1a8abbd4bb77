package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/internal/safename"
)

// The parsers of what comes from outside: the since parameter, the apps of
// a batch history request, origins
// from the configuration, the Host header against the listen address, and
// the token in a header or a WebSocket subprotocol. Their table tests are
// TestParseSince, TestHistoriesEndpoint, TestNormalizeOrigin, TestHostCheck and TestLiveHandshake.

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"", "90s", "15m", "1d", "24h", "25h", "2d", "0s", "-5m", "1001d", "99999999999999999999d", "1.5h", "d", "5µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := ParseSince(v)
		if err != nil {
			if d != 0 {
				t.Fatalf("ParseSince(%q) = %s with error %v", v, d, err)
			}
			return
		}
		if d <= 0 || d > CoarseWindow {
			t.Fatalf("ParseSince(%q) = %s: outside (0, %s]", v, d, CoarseWindow)
		}
	})
}

func FuzzHistoryApps(f *testing.F) {
	for _, s := range []string{"app=a&app=b", "app=a&app=a", "app=", "since=1m", "app=%ff%00&app=x", "app=a&app=b&app=c&app=d&app=e&app=f&app=g&app=h&app=i&app=j&app=k&app=l&app=m&app=n&app=o&app=p&app=q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		apps, err := parseHistoryApps(q)
		if err != nil {
			if apps != nil {
				t.Fatalf("parseHistoryApps(%q) = %q with error %v", raw, apps, err)
			}
			return
		}
		if len(apps) == 0 || len(apps) > MaxHistoryApps {
			t.Fatalf("parseHistoryApps(%q): %d apps, want 1 to %d", raw, len(apps), MaxHistoryApps)
		}
		seen := map[string]bool{}
		for _, a := range apps {
			if a == "" || len(a) > safename.MaxLen || seen[a] || !slices.Contains(q["app"], a) {
				t.Fatalf("parseHistoryApps(%q) = %q: empty, too long, repeated or not asked for", raw, apps)
			}
			seen[a] = true
		}
	})
}

func FuzzNormalizeOrigin(f *testing.F) {
	for _, s := range []string{"https://dash.example:3000", "HTTP://A.example/", "http://[::1]:80", "https://", "dash.example",
		"https://x/path", "http://a%41b", "http://user@host", "http://h?q", "http://h#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, o string) {
		n, err := NormalizeOrigin(o)
		if err != nil {
			return
		}
		if n != strings.ToLower(n) {
			t.Fatalf("NormalizeOrigin(%q) = %q: not lower-case", o, n)
		}
		if !strings.HasPrefix(n, "http://") && !strings.HasPrefix(n, "https://") {
			t.Fatalf("NormalizeOrigin(%q) = %q: not http or https", o, n)
		}
		again, err := NormalizeOrigin(n)
		if err != nil || again != n {
			t.Fatalf("NormalizeOrigin(%q) = %q, but NormalizeOrigin(%q) = %q, %v", o, n, n, again, err)
		}
		if _, err := newGuard("", DefaultListen, []string{o}); err != nil {
			t.Fatalf("newGuard refuses the origin %q that NormalizeOrigin took: %v", o, err)
		}
	})
}

// loopbackName is the fuzz tests' own idea of a loopback host name.
func loopbackName(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// FuzzHostCheck: on a loopback listen address, a Host header is taken only
// when the host it names is a loopback one or that of an allowed origin.
func FuzzHostCheck(f *testing.F) {
	for _, s := range [][2]string{
		{"127.0.0.1:8000", "127.0.0.1:8000"}, {"127.0.0.1:8000", "evil.example"}, {"[::1]:8000", "[::1]:8000"},
		{"localhost:8000", "LOCALHOST"}, {"127.0.0.1:8000", "127.0.0.1.evil.example:80"}, {"127.0.0.1:8000", "[::ffff:127.0.0.1]:1"},
		{"127.0.0.1:8000", "dash.example:3000"}, {":8000", "anything"}, {"127.0.0.1:8000", "[::1]evil"}, {"garbage", "x"},
		{"127.0.0.1:8000", "[127.0.0.1]:80"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, listen, host string) {
		g, err := newGuard("", listen, []string{"https://dash.example:3000"})
		if err != nil {
			t.Fatal(err)
		}
		ok := g.hostOK(&http.Request{Host: host, Header: http.Header{}})
		if !ok || !g.loopbackOnly {
			return
		}
		// The host's name, whatever follows its last colon (a port, even
		// a bad one, names no other host).
		names := []string{host}
		if u, err := url.Parse("http://" + host); err == nil {
			names = append(names, u.Hostname())
		}
		if i := strings.LastIndexByte(host, ':'); i >= 0 {
			names = append(names, strings.Trim(host[:i], "[]"))
		}
		for _, n := range names {
			if loopbackName(n) || strings.EqualFold(n, "dash.example") {
				return
			}
		}
		t.Fatalf("listening on %q, Host %q was taken", listen, host)
	})
}

// FuzzToken: a request passes the token check only when it carries the
// token, in the Authorization header or as a bearer subprotocol.
func FuzzToken(f *testing.F) {
	const tok = "s3cret-Token"
	enc := base64.RawURLEncoding.EncodeToString([]byte(tok))
	for _, s := range [][3]string{
		{tok, "Bearer " + tok, ""}, {tok, "bearer  " + tok + " ", ""}, {tok, "Basic " + tok, ""}, {tok, "", "bwmon, bearer." + enc},
		{tok, "", "bearer." + enc + "="}, {tok, "", "bearer.!!"}, {tok, "Bearer", ""}, {"", "", ""}, {"ü", "", "bearer.w7w"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, token, auth, protocols string) {
		g, err := newGuard(token, DefaultListen, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		if protocols != "" {
			h.Set("Sec-WebSocket-Protocol", protocols)
		}
		ok, present := g.tokenOK(&http.Request{Header: h})
		if token == "" {
			if !ok {
				t.Fatal("no token configured, yet a request was refused")
			}
			return
		}
		if ok && !present {
			t.Fatal("taken without a token")
		}
		if !ok {
			return
		}
		carried := strings.Contains(auth, token)
		for _, p := range strings.Split(protocols, ",") {
			if b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(p), "bearer.")); err == nil && string(b) == token {
				carried = true
			}
		}
		if !carried {
			t.Fatalf("token %q: Authorization %q, protocols %q taken", token, auth, protocols)
		}
	})
}
