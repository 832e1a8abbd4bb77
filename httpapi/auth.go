package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// The WebSocket API of a browser cannot set an Authorization header, so the
// page offers the token as a subprotocol: "bwmon" and "bearer.BASE64URL"
// (the token, base64url-encoded without padding, since a subprotocol may
// hold only token characters). The server selects "bwmon" in reply, never
// echoing the token.
const (
	wsProtocol       = "bwmon"
	wsBearerProtocol = "bearer."
)

// guard checks what comes before any handler: the Host header (against DNS
// rebinding, when the agent listens on loopback only) and the token.
type guard struct {
	// tokenSum is the SHA-256 of the token, nil when none is required;
	// comparing sums keeps the comparison's time independent of the
	// token's length.
	tokenSum []byte
	// loopbackOnly restricts the Host header to loopback names and the
	// hosts of allowed origins.
	loopbackOnly bool
	allowedHosts map[string]bool
	origins      map[string]bool
}

func newGuard(token string, listen string, origins []string) (*guard, error) {
	g := &guard{allowedHosts: map[string]bool{}, origins: map[string]bool{}}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		g.tokenSum = sum[:]
	}
	for _, o := range origins {
		n, err := NormalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		g.origins[n] = true
		u, _ := url.Parse(n)
		g.allowedHosts[strings.ToLower(u.Hostname())] = true
	}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		g.loopbackOnly = isLoopbackHost(host)
	}
	return g, nil
}

// NormalizeOrigin checks an origin such as "https://dash.example:3000" and
// returns it lower-cased, as browsers send it.
func NormalizeOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("bad origin %q: write scheme://host[:port], e.g. \"https://dash.example:3000\"", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostOK refuses, on a loopback-only agent, a Host header that names
// another host: a page that got its domain to resolve to 127.0.0.1 would
// otherwise read the API as same-origin.
func (g *guard) hostOK(r *http.Request) bool {
	if !g.loopbackOnly {
		return true
	}
	host := r.Host
	bracketed := strings.HasPrefix(host, "[")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1] // an IPv6 address without a port
	}
	if bracketed {
		// Brackets hold an IPv6 address and nothing else (RFC 3986's
		// IP-literal): "[127.0.0.1]" is no host.
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return false
		}
	}
	return isLoopbackHost(host) || g.allowedHosts[strings.ToLower(host)]
}

// tokenOK reports whether r carries the token: an "Authorization: Bearer"
// header, or, on a WebSocket upgrade, the bearer subprotocol. present tells
// whether r offered any token at all.
func (g *guard) tokenOK(r *http.Request) (ok, present bool) {
	if g.tokenSum == nil {
		return true, false
	}
	var given string
	if h := r.Header.Get("Authorization"); h != "" {
		present = true
		scheme, tok, found := strings.Cut(h, " ")
		if found && strings.EqualFold(scheme, "Bearer") {
			given = strings.TrimSpace(tok)
		}
	} else {
		for _, p := range websocketProtocols(r) {
			if enc, found := strings.CutPrefix(p, wsBearerProtocol); found {
				present = true
				if b, err := base64.RawURLEncoding.DecodeString(enc); err == nil {
					given = string(b)
				}
			}
		}
	}
	if !present {
		return false, false
	}
	sum := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(sum[:], g.tokenSum) == 1, true
}

func websocketProtocols(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// checkOrigin is the WebSocket upgrader's origin check: a request without
// Origin (not from a browser) passes, a browser's must come from the page
// this agent serves (same host and port) or from an allowed origin.
func (g *guard) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return g.origins[strings.ToLower(origin)]
}

// wrap applies the checks to next. public marks the page's own files, which
// hold no data and load without a token (the page then asks for it); a
// request that offers a wrong token is refused everywhere.
func (g *guard) wrap(next http.Handler, public bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostOK(r) {
			writeError(w, http.StatusForbidden, "host %q is not this agent: open it as http://127.0.0.1 or http://localhost, or list the origin in [http] allowed_origins", r.Host)
			return
		}
		ok, present := g.tokenOK(r)
		if !ok && (present || !public) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bwmon"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token: send \"Authorization: Bearer TOKEN\" with the [http] token of the agent's configuration")
			return
		}
		next.ServeHTTP(w, r)
	})
}
