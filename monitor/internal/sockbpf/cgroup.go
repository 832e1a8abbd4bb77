package sockbpf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errNoCgroup2 is parseCgroup2Root's answer when no cgroup v2 hierarchy is
// mounted.
var errNoCgroup2 = errors.New("no cgroup v2 hierarchy is mounted")

// parseCgroup2Root returns the mount point of the cgroup v2 hierarchy's
// root from a mountinfo table (proc(5)): /sys/fs/cgroup on unified hosts,
// /sys/fs/cgroup/unified on hybrid ones. A cgroup2 mount of a sub-tree
// (root other than "/") is taken only when there is no mount of the root.
func parseCgroup2Root(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	sub := ""
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		typ, _, _ := strings.Cut(post, " ")
		if len(f) < 5 || typ != "cgroup2" {
			continue
		}
		mnt := unescapeMountinfo(f[4])
		if !strings.HasPrefix(mnt, "/") {
			continue
		}
		if f[3] == "/" {
			return mnt, nil
		}
		if sub == "" {
			sub = mnt
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading mountinfo: %w", err)
	}
	if sub != "" {
		return sub, nil
	}
	return "", errNoCgroup2
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
