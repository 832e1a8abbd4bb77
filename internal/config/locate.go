package config

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// keyLines maps the keys of a TOML file to the lines they stand on, so that
// errors found after decoding (unknown keys, bad regexes) can name a line:
// BurntSushi/toml reports positions for syntax errors only. Keys are written
// as toml.Key.String() writes them ("table.key", `site."example.com"`),
// with the 0-based index of an array table after its name ("app.N.key");
// a table header is keyed by its name ("app.N" for arrays), and the
// tables a header or a dotted key defines on the way are keyed too. The
// first line wins.
type keyLines map[string]int

// locateKeys reads the keys of text line by line. It follows what can
// hide a line's start: strings (multi-line ones too), arrays and inline
// tables over several lines, comments. It never fails: a line it cannot
// read as a key or a header is skipped (the decoder reports it).
func locateKeys(text string) keyLines {
	kl := keyLines{}
	counts := map[string]int{} // array tables seen, by name
	var table []string         // the current table's key, with indexes
	var v valueScan
	for i, raw := range strings.Split(text, "\n") {
		n := i + 1
		if v.open() {
			v.scan(raw)
			continue
		}
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line[0] == '#':
		case strings.HasPrefix(line, "[["):
			parts, rest, ok := parseKey(line[2:])
			if !ok || !strings.HasPrefix(strings.TrimLeft(rest, " \t"), "]]") {
				continue
			}
			name := toml.Key(parts).String()
			table = append(slices.Clip(parts), strconv.Itoa(counts[name]))
			counts[name]++
			kl.addAll(parts, n)
			kl.add(table, n)
		case line[0] == '[':
			parts, rest, ok := parseKey(line[1:])
			if !ok || !strings.HasPrefix(strings.TrimLeft(rest, " \t"), "]") {
				continue
			}
			table = parts
			kl.addAll(table, n)
		default:
			parts, rest, ok := parseKey(line)
			rest = strings.TrimLeft(rest, " \t")
			if !ok || !strings.HasPrefix(rest, "=") {
				continue
			}
			kl.addAll(append(slices.Clip(table), parts...), n)
			v.scan(rest[1:])
		}
	}
	return kl
}

func (kl keyLines) add(parts []string, line int) {
	k := toml.Key(parts).String()
	if _, ok := kl[k]; !ok {
		kl[k] = line
	}
}

// addAll adds parts and each of its prefixes: `[a.b]` defines a too.
func (kl keyLines) addAll(parts []string, line int) {
	for i := 1; i <= len(parts); i++ {
		kl.add(parts[:i], line)
	}
}

// line returns the line of key, else of its closest parent table; a key
// given without array indexes (as toml.MetaData names them: "app.matc")
// gets the first line of the same key with indexes ("app.1.matc"). 0 when
// none is found.
func (kl keyLines) line(key string) int {
	parts, rest, ok := parseKey(key)
	if !ok || rest != "" {
		parts = strings.Split(key, ".")
	}
	for p := parts; len(p) > 0; p = p[:len(p)-1] {
		if n, ok := kl[toml.Key(p).String()]; ok {
			return n
		}
		if n := kl.unindexed(p); n > 0 {
			return n
		}
	}
	return 0
}

// unindexed returns the first line of a key that is p once its array
// indexes are left out; 0 if none is.
func (kl keyLines) unindexed(p []string) int {
	best := 0
	for k, n := range kl {
		if best != 0 && n >= best {
			continue
		}
		q, _, _ := parseKey(k)
		q = slices.DeleteFunc(q, isIndex)
		if slices.Equal(q, p) {
			best = n
		}
	}
	return best
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseKey reads a TOML key at the start of s (bare, "basic" and 'literal'
// parts joined by dots, blanks around them) and returns its parts and what
// follows; ok is false if s does not start with one.
func parseKey(s string) (parts []string, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return nil, s, false
		}
		var part string
		switch s[0] {
		case '"':
			end := basicStringEnd(s, 1)
			if end >= len(s) {
				return nil, s, false
			}
			part, s = unescapeTOML(s[1:end]), s[end+1:]
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, s, false
			}
			part, s = s[1:end+1], s[end+2:]
		default:
			end := strings.IndexFunc(s, func(r rune) bool { return !isBareKeyRune(r) })
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return nil, s, false
			}
			part, s = s[:end], s[end:]
		}
		parts = append(parts, part)
		t := strings.TrimLeft(s, " \t")
		if !strings.HasPrefix(t, ".") {
			return parts, s, true
		}
		s = t[1:]
	}
}

func isBareKeyRune(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

// unescapeTOML decodes the escapes of a basic string's content, as the
// decoder does (TOML 1.1: \e and \xHH too); a bad escape is kept as
// written (the decoder refuses the file anyway).
func unescapeTOML(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if c, ok := map[byte]byte{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', 'e': 0x1b, '"': '"', '\\': '\\'}[s[i]]; ok {
			b.WriteByte(c)
			continue
		}
		digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[i]]
		if digits == 0 || i+digits >= len(s) {
			b.WriteByte('\\')
			b.WriteByte(s[i])
			continue
		}
		r, err := strconv.ParseUint(s[i+1:i+1+digits], 16, 32)
		if err != nil || !utf8.ValidRune(rune(r)) {
			b.WriteByte('\\')
			b.WriteByte(s[i])
			continue
		}
		b.WriteRune(rune(r))
		i += digits
	}
	return b.String()
}

// valueScan follows a value over the lines it spans: the open arrays and
// inline tables, and an open multi-line string.
type valueScan struct {
	depth int    // open [ and {
	ml    string // `"""` or `'''` inside a multi-line string, else ""
}

func (v *valueScan) open() bool { return v.depth > 0 || v.ml != "" }

// scan reads one line of a value, from where the last one left off.
func (v *valueScan) scan(s string) {
	for i := 0; i < len(s); {
		if v.ml != "" {
			j := closeML(s[i:], v.ml)
			if j < 0 {
				return // the string goes on
			}
			i += j + 3
			// Up to two more quotes belong to the string: `""""a""""`.
			for k := 0; k < 2 && i < len(s) && s[i] == v.ml[0]; k++ {
				i++
			}
			v.ml = ""
			continue
		}
		switch c := s[i]; {
		case strings.HasPrefix(s[i:], `"""`), strings.HasPrefix(s[i:], `'''`):
			v.ml = s[i : i+3]
			i += 3
		case c == '"':
			i = basicStringEnd(s, i+1) + 1
		case c == '\'':
			i++
			for i < len(s) && s[i] != '\'' {
				i++
			}
			i++
		case c == '[' || c == '{':
			v.depth++
			i++
		case c == ']' || c == '}':
			v.depth = max(v.depth-1, 0)
			i++
		case c == '#':
			return
		default:
			i++
		}
	}
}

// basicStringEnd returns where the "basic" string whose content starts at
// s[i] ends: the index of its closing quote, its escapes skipped; len(s)
// or more when it does not close on this line.
func basicStringEnd(s string, i int) int {
	for i < len(s) && s[i] != '"' {
		if s[i] == '\\' {
			i++
		}
		i++
	}
	return i
}

// closeML returns where delim closes a multi-line string in s (a basic
// one's escapes skipped), or -1.
func closeML(s, delim string) int {
	for j := 0; j < len(s); j++ {
		if delim[0] == '"' && s[j] == '\\' {
			j++
			continue
		}
		if strings.HasPrefix(s[j:], delim) {
			return j
		}
	}
	return -1
}
