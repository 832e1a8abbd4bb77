package main

import (
	"net"
	"strconv"

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
	if c.Listen != "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			return c, errAt("http.listen", "bad listen address %q: write \"HOST:PORT\", e.g. %q (this host only), \":8000\" (every interface), or \"\" to serve no HTTP",
				c.Listen, httpapi.DefaultListen)
		}
		if host != "" && net.ParseIP(host) == nil && host != "localhost" {
			return c, errAt("http.listen", "bad listen address %q: the host must be an IP address or localhost (or empty for every interface)", c.Listen)
		}
	}
	for i := 0; i < len(s.Token); i++ {
		if b := s.Token[i]; b <= ' ' || b >= 0x7f {
			return c, errAt("http.token", "token may hold only printable ASCII without spaces (it travels in an HTTP header)")
		}
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
