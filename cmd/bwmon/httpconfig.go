package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/bwmon/bwmon/httpapi"
)

// httpSection is [http] as written.
type httpSection struct {
	Listen         *string  `toml:"listen"`
	Token          string   `toml:"token"`
	AllowedOrigins []string `toml:"allowed_origins"`
}

// HTTPConfig is where and how the agent serves its page, API and metrics.
type HTTPConfig struct {
	// Listen is "HOST:PORT"; "" serves no HTTP.
	Listen string
	// Token, when set, is required with every request for data.
	Token string
	// AllowedOrigins are the other sites whose pages may open the
	// WebSocket, normalised ("https://dash.example:3000").
	AllowedOrigins []string
}

// defaultHTTP serves on loopback only: the page shows every process's
// command line.
func defaultHTTP() HTTPConfig { return HTTPConfig{Listen: httpapi.DefaultListen} }

// parseHTTP validates the [http] section.
func parseHTTP(s httpSection, errAt errAtFunc) (HTTPConfig, error) {
	c := defaultHTTP()
	if s.Listen != nil {
		c.Listen = *s.Listen
	}
	if err := checkListen(c.Listen); err != nil {
		return c, errAt("http.listen", "%v", err)
	}
	if err := checkToken(s.Token); err != nil {
		return c, errAt("http.token", "%v", err)
	}
	c.Token = s.Token
	for _, o := range s.AllowedOrigins {
		n, err := httpapi.NormalizeOrigin(o)
		if err != nil {
			return c, errAt("http.allowed_origins", "allowed_origins: %v", err)
		}
		c.AllowedOrigins = append(c.AllowedOrigins, n)
	}
	return c, nil
}

// checkListen validates a listen address ([http] listen, -listen):
// "HOST:PORT" with an IP address, localhost or nothing (every interface) as
// the host and a port number; "" (serve no HTTP) is valid.
func checkListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !validPort(port) {
		return fmt.Errorf("bad listen address %q: write \"HOST:PORT\", e.g. %q (this host only), \":8000\" (every interface), or \"\" to serve no HTTP",
			addr, httpapi.DefaultListen)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("bad listen address %q: the host must be an IP address or localhost (or empty for every interface)", addr)
	}
	return nil
}

// validPort reports whether p is a port number, 0 to 65535, in decimal
// digits only (strconv.Atoi would take "+80").
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range []byte(p) {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// checkToken validates [http] token: it travels in an HTTP header, so
// printable ASCII without spaces. The message never repeats the token.
func checkToken(tok string) error {
	for i := 0; i < len(tok); i++ {
		if b := tok[i]; b <= ' ' || b >= 0x7f {
			return errors.New("token may hold only printable ASCII without spaces (it travels in an HTTP header)")
		}
	}
	return nil
}
