package main

import (
	"strconv"
	"strings"
)

// keyLines maps the keys of a TOML file to the lines they stand on, so that
// errors found after decoding (unknown keys, bad regexes) can name a line:
// BurntSushi/toml reports positions for syntax errors only. Keys are written
// "table.key", and keys of the N-th (0-based) array table "app.N.key"; a
// table header is keyed by its name ("app.N" for arrays).
type keyLines map[string]int

func locateKeys(text string) keyLines {
	kl := keyLines{}
	counts := map[string]int{}
	table := ""
	depth := 0 // open brackets of a multi-line value
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(stripComment(raw))
		n := i + 1
		if depth > 0 {
			depth += bracketDelta(line)
			continue
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "[["):
			name := strings.TrimSpace(strings.Trim(line, "[]"))
			table = name + "." + strconv.Itoa(counts[name])
			counts[name]++
			kl.add(table, n)
		case strings.HasPrefix(line, "["):
			table = strings.TrimSpace(strings.Trim(line, "[]"))
			kl.add(table, n)
		default:
			eq := strings.IndexByte(line, '=')
			if eq < 0 {
				continue
			}
			key := strings.Trim(strings.TrimSpace(line[:eq]), `"'`)
			if table != "" {
				key = table + "." + key
			}
			kl.add(key, n)
			depth = bracketDelta(line[eq+1:])
		}
	}
	return kl
}

func (kl keyLines) add(key string, line int) {
	if _, ok := kl[key]; !ok {
		kl[key] = line
	}
}

// line returns the line of key, trying the key without array indexes too
// (toml.MetaData.Undecoded names keys of array tables without them), then
// its parent tables; 0 when none is found.
func (kl keyLines) line(key string) int {
	for k := key; k != ""; k = parentKey(k) {
		if n, ok := kl[k]; ok {
			return n
		}
	}
	// "app.matc" from Undecoded: find the first "app.N.matc".
	parts := strings.Split(key, ".")
	if len(parts) >= 2 {
		for i := 0; i < 1000; i++ {
			k := strings.Join(parts[:len(parts)-1], ".") + "." + strconv.Itoa(i) + "." + parts[len(parts)-1]
			if n, ok := kl[k]; ok {
				return n
			}
			if _, ok := kl[strings.Join(parts[:len(parts)-1], ".")+"."+strconv.Itoa(i)]; !ok {
				break
			}
		}
	}
	return 0
}

func parentKey(k string) string {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
}

// scanTOML walks s outside its strings (basic and literal): f gets each
// index and byte there and returns false to stop.
func scanTOML(s string, f func(i int, c byte) bool) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		default:
			if !f(i, c) {
				return
			}
		}
	}
}

// stripComment removes a # comment that is not inside a string.
func stripComment(s string) string {
	end := len(s)
	scanTOML(s, func(i int, c byte) bool {
		if c == '#' {
			end = i
			return false
		}
		return true
	})
	return s[:end]
}

// bracketDelta counts [ minus ] outside strings and comments.
func bracketDelta(s string) int {
	d := 0
	scanTOML(s, func(_ int, c byte) bool {
		switch c {
		case '[':
			d++
		case ']':
			d--
		case '#':
			return false
		}
		return true
	})
	return d
}
