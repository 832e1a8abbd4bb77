package httpapi

import (
	"errors"
	"fmt"
	"net"

	"github.com/bwmon/bwmon/model"
)

// Config is the [http] table: where and how the agent serves its page, API
// and metrics.
type Config struct {
	// Listen is "HOST:PORT"; "" serves no HTTP.
	Listen string
	// Token, when set, is required with every request for data.
	Token string
	// AllowedOrigins are the other sites whose pages may open the
	// WebSocket, as NormalizeOrigin writes them
	// ("https://dash.example:3000").
	AllowedOrigins []string
}

// Validate reports the first field of c that cannot serve, as a
// *model.FieldError naming its key in the [http] table. The message never
// repeats the token.
func (c Config) Validate() error {
	if err := CheckListen(c.Listen); err != nil {
		return &model.FieldError{Field: "listen", Err: err}
	}
	if err := CheckToken(c.Token); err != nil {
		return &model.FieldError{Field: "token", Err: err}
	}
	for _, o := range c.AllowedOrigins {
		if _, err := NormalizeOrigin(o); err != nil {
			return model.FieldErrorf("allowed_origins", "allowed_origins: %v", err)
		}
	}
	return nil
}

// CheckListen validates a listen address ([http] listen, -listen):
// "HOST:PORT" with an IP address, localhost or nothing (every interface) as
// the host and a port number; "" (serve no HTTP) is valid.
func CheckListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !validPort(port) {
		return fmt.Errorf("bad listen address %q: write \"HOST:PORT\", e.g. %q (this host only), \":8000\" (every interface), or \"\" to serve no HTTP",
			addr, DefaultListen)
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

// CheckToken validates a token ([http] token): it travels in an HTTP
// header, so printable ASCII without spaces. The message never repeats the
// token.
func CheckToken(tok string) error {
	for i := 0; i < len(tok); i++ {
		if b := tok[i]; b <= ' ' || b >= 0x7f {
			return errors.New("token may hold only printable ASCII without spaces (it travels in an HTTP header)")
		}
	}
	return nil
}
