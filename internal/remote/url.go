package remote

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ParseURL reads the address of an agent: "http://HOST:PORT/" (a path
// below which the agent is served, e.g. behind a proxy, is kept),
// "https://…", or "HOST:PORT" for http. It refuses a user, a query and a
// fragment: the token goes with -token, never in a URL.
func ParseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("empty agent URL: write http://HOST:PORT/")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bad agent URL %.200q: write http://HOST:PORT/", s)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("bad agent URL %.200q: the scheme must be http or https", s)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("bad agent URL %.200q: no host; write http://HOST:PORT/", s)
	case u.User != nil:
		return nil, fmt.Errorf("bad agent URL: it holds a user or password; give the token with -token or -token-file")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("bad agent URL %.200q: no query or fragment, please", s)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""
	return u, nil
}

// endpoint returns the URL of path (without a leading slash) below base.
func endpoint(base *url.URL, path string) *url.URL {
	u := *base
	u.Path += path
	return &u
}
