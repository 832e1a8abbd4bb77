package redact

import (
	"strconv"
	"strings"
)

// URL returns what may be shown of a URL in an error or a log line:
// its scheme and host, and "/..." where a path, query or fragment follows;
// never its userinfo. A host that does not look like one (a password with
// a "/" in it cut the authority short) is hidden too, and a string without
// "scheme://" shows nothing of itself.
func URL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 || !isScheme(u[:i]) {
		return "(URL hidden)"
	}
	rest := u[i+3:]
	host, tail := rest, ""
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		host, tail = rest[:end], rest[end:]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	if host != hiddenHost && (!isHost(host) || strings.Contains(tail, "@")) {
		host = hiddenHost
	}
	if tail != "" && tail != "/" {
		tail = "/..."
	}
	return u[:i] + "://" + host + tail
}

// hiddenHost stands for a host URL does not show.
const hiddenHost = "(hidden)"

func isScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isSchemeChar(s[i]) {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isSchemeChar(c byte) bool {
	return isAlpha(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// isHost reports whether s is written as a host and port are: a name, an
// IPv4 address or a bracketed IPv6 one, then ":PORT" in digits.
func isHost(s string) bool {
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i:], "]") {
		host, port = s[:i], s[i+1:]
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1] // IPv6: hex digits and colons
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !isAlpha(c) && (c < '0' || c > '9') && !strings.ContainsRune(".-_~%:", rune(c)) {
			return false
		}
	}
	return true
}

// URLs rewrites every URL in s, a message or an error's text, with URL. A URL runs from its scheme to the next space or quote; one
// that a quote opens (Go's %q) runs to the closing quote, escapes and
// spaces included.
func URLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	done := 0 // s[:done] is written
	for {
		i := strings.Index(s[done:], "://")
		if i < 0 {
			break
		}
		i += done
		start := i
		for start > done && isSchemeChar(s[start-1]) {
			start--
		}
		end := i + 3
		if start > 0 && s[start-1] == '"' {
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end, len(s))
		} else {
			for end < len(s) && !strings.ContainsRune(" \t\r\n\"'<>`", rune(s[end])) {
				end++
			}
		}
		b.WriteString(s[done:start])
		b.WriteString(URL(s[start:end]))
		done = end
	}
	b.WriteString(s[done:])
	return b.String()
}

// Values hides values (webhook URLs) in s, a message that may quote
// them whole or in part as %q does ("invalid port \":t0ken\" after
// host"): a quoted string that is one of values becomes its URL
// form, one that is a part of one becomes "(hidden)". It catches what
// URLs cannot recognise, a URL written without "scheme://".
func Values(s string, values []string) string {
	var b strings.Builder
	done := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '"' {
			continue
		}
		q, err := strconv.QuotedPrefix(s[i:])
		if err != nil {
			continue
		}
		unq, _ := strconv.Unquote(q)
		if repl, ok := hiddenValue(unq, values); ok {
			b.WriteString(s[done:i])
			b.WriteString(strconv.Quote(repl))
			done = i + len(q)
		}
		i += len(q) - 1
	}
	b.WriteString(s[done:])
	return b.String()
}

func hiddenValue(q string, values []string) (string, bool) {
	if q == "" {
		return "", false
	}
	for _, v := range values {
		if v == q {
			return URL(v), true
		}
	}
	for _, v := range values {
		if strings.Contains(v, q) {
			return "(hidden)", true
		}
	}
	return "", false
}
