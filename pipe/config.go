package pipe

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// Config is one pipe: a [[monitor]] type = "pipe" section, or the
// arguments of `bwmon pipe`.
type Config struct {
	// Name is the app the pipe's bytes are grouped under (default
	// DefaultName(Listen, Target)), as safename.Clean makes it.
	Name string
	// Listen is the address to accept clients on: ":PORT" listens on every
	// IPv4 and IPv6 address, "HOST:PORT" on one; a bare "PORT" is read as
	// ":PORT". Port 0 picks a free port (see Pipe.Addr).
	Listen string
	// Target is the "HOST:PORT" each client is connected to. HOST may be a
	// name; it is resolved at each connection.
	Target string
	// RateLimit caps the bytes per second in each direction, summed over
	// all of the pipe's connections (0: no limit).
	RateLimit model.Rate
	// MaxConns caps the open connections; clients beyond it are accepted
	// and closed at once (0: DefaultMaxConns; negative, e.g. NoLimit: no
	// limit).
	MaxConns int
	// IdleTimeout closes a connection that moved no byte in either
	// direction for this long (0: DefaultIdleTimeout; negative, e.g.
	// NoLimit: never).
	IdleTimeout time.Duration
	// DialTimeout bounds the connection to the target (default
	// DefaultDialTimeout).
	DialTimeout time.Duration
	// DrainTimeout is how long Close lets open connections finish before it
	// closes them (default DefaultDrainTimeout).
	DrainTimeout time.Duration
}

// Defaults for the zero values of Config.
//
// DefaultMaxConns and DefaultIdleTimeout are the defaults of nginx's stream
// proxy (worker_connections 512, proxy_timeout 10m). 512 connections hold
// at most 3,072 file descriptors (see the package doc): within the hard
// limit of 4,096 many systems still set, to which Go raises the soft one.
// A client that goes silent holds a connection, and a peer that stops
// reading holds kernel memory, for 10 minutes at most, while a terminal or
// database session idle for a coffee break survives.
const (
	DefaultMaxConns     = 512
	DefaultIdleTimeout  = 10 * time.Minute
	DefaultDialTimeout  = 10 * time.Second
	DefaultDrainTimeout = 5 * time.Second
)

// NoLimit, as Config.MaxConns or Config.IdleTimeout, turns that limit off.
const NoLimit = -1

// OrNoLimit maps a limit as bwmon's configuration file and flags write it,
// where 0 means "no limit", to Config's, where 0 means the default: 0
// becomes NoLimit.
func OrNoLimit[T int | time.Duration](v T) T {
	if v == 0 {
		return NoLimit
	}
	return v
}

// Validate reports the first field of c that cannot run, as a
// *model.FieldError naming its key in a [[monitor]] type = "pipe" table
// ("" for the table as a whole). Zero limits and timeouts are valid: New
// reads them as the defaults.
func (c Config) Validate() error {
	if c.Listen == "" {
		return model.FieldErrorf("", `pipe needs listen = ":PORT" (every address) or "HOST:PORT": where clients connect`)
	}
	if _, err := CheckListen(c.Listen); err != nil {
		return model.FieldErrorf("listen", "listen: %v", err)
	}
	if c.Target == "" {
		return model.FieldErrorf("", `pipe needs target = "HOST:PORT": where the pipe connects each client`)
	}
	if err := CheckTarget(c.Target); err != nil {
		return model.FieldErrorf("target", "target: %v", err)
	}
	switch {
	case c.RateLimit < 0:
		return model.FieldErrorf("rate_limit", "rate_limit must not be negative")
	case c.DialTimeout < 0:
		return model.FieldErrorf("dial_timeout", "dial_timeout %s must not be negative", c.DialTimeout)
	case c.DrainTimeout < 0:
		return model.FieldErrorf("drain_timeout", "drain_timeout %s must not be negative", c.DrainTimeout)
	}
	return nil
}

// CheckListen validates a listen address and returns it normalized: a
// bare port "8080" becomes ":8080".
func CheckListen(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty listen address: write \":PORT\" (every address) or \"HOST:PORT\", e.g. \":8080\"")
	}
	if isPort(s) {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("bad listen address %q: write \":PORT\" (every address) or \"HOST:PORT\", e.g. \":8080\" or \"[::1]:8080\"", s)
	}
	if _, err := parsePort(port, true); err != nil {
		return "", fmt.Errorf("bad listen address %q: %w", s, err)
	}
	if !isHost(host) {
		return "", fmt.Errorf("bad listen address %q: %q is not a host name or IP address", s, host)
	}
	return s, nil
}

// CheckTarget validates a target address "HOST:PORT".
func CheckTarget(s string) error {
	if s == "" {
		return errors.New("empty target: write \"HOST:PORT\", e.g. \"backend.example:80\"")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("bad target %q: write \"HOST:PORT\", e.g. \"backend.example:80\" or \"[::1]:8080\"", s)
	}
	if host == "" {
		return fmt.Errorf("bad target %q: the host is missing, e.g. \"127.0.0.1%s\"", s, s)
	}
	if !isHost(host) {
		return fmt.Errorf("bad target %q: %q is not a host name or IP address", s, host)
	}
	if _, err := parsePort(port, false); err != nil {
		return fmt.Errorf("bad target %q: %w", s, err)
	}
	return nil
}

// ShortForm turns the arguments of `bwmon pipe LISTEN TARGET` into a
// listen address and a target: a bare port listens on every address, and a
// target without a port gets the listen port, as the original runpipe.py
// did ("8080 example.org" forwards :8080 to example.org:8080).
func ShortForm(listen, target string) (string, string, error) {
	l, err := CheckListen(listen)
	if err != nil {
		return "", "", err
	}
	if _, _, err := net.SplitHostPort(target); err != nil && target != "" {
		_, port, _ := net.SplitHostPort(l)
		if port == "0" {
			return "", "", fmt.Errorf("target %q needs a port when listening on port 0", target)
		}
		target = net.JoinHostPort(strings.Trim(target, "[]"), port)
	}
	if err := CheckTarget(target); err != nil {
		return "", "", err
	}
	return l, target, nil
}

// DefaultName is the app name of a pipe without a name: "pipe-" then the
// listen address (without the colon when it has no host) and the target,
// e.g. "pipe-8080:backend:80".
func DefaultName(listen, target string) string {
	return "pipe-" + strings.TrimPrefix(listen, ":") + ":" + target
}

// withDefaults validates c, normalizes its listen address and fills in
// its defaults.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	c.Listen, _ = CheckListen(c.Listen)
	if c.Name == "" {
		c.Name = DefaultName(c.Listen, c.Target)
	}
	c.Name = safename.Clean(c.Name)
	c.MaxConns = limitOrDefault(c.MaxConns, DefaultMaxConns)
	c.IdleTimeout = limitOrDefault(c.IdleTimeout, DefaultIdleTimeout)
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	return c, nil
}

// limitOrDefault reads a limit of Config: 0 is def, a negative NoLimit.
func limitOrDefault[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return NoLimit
	}
	return v
}

// isHost reports whether host may be a host name or an IP address: no
// space or slash (a URL's), and nothing safename.Clean would change (no
// control, format character or invalid UTF-8; at most safename.MaxLen
// bytes, a DNS name's 253 and more). The resolver says the rest.
func isHost(host string) bool {
	return !strings.ContainsAny(host, " /") && safename.Clean(host) == host
}

func isPort(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parsePort(s string, zeroOK bool) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("port %q must be a number from 1 to 65535", s)
	}
	return n, nil
}
