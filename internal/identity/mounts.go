package identity

import (
	"strconv"
	"strings"
)

// Mount is a line of /proc/PID/mountinfo, as far as identity needs it.
type Mount struct {
	ID     uint64
	Root   string // the mounted file system's directory shown there ("/" for all of it), unescaped
	Point  string // where it is mounted, unescaped
	FSType string // "ext4", "fuse.sshfs", …
}

// ParseMountInfo reads the content of /proc/PID/mountinfo ("ID PARENT
// MAJ:MIN ROOT POINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPEROPTIONS" a
// line). Malformed lines are skipped.
func ParseMountInfo(content string) []Mount {
	var out []Mount
	for len(content) > 0 {
		line, rest, _ := strings.Cut(content, "\n")
		content = rest
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		id, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			continue
		}
		out = append(out, Mount{ID: id, Root: unescapeMount(f[3]), Point: unescapeMount(f[4]), FSType: f[sep+1]})
	}
	return out
}

// unescapeMount undoes the kernel's octal escapes of a mount point ("\040"
// for a space, also tab, newline and backslash).
func unescapeMount(s string) string {
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

// userServed reports whether a filesystem of type fstype is served by a
// process, which may be an ordinary user's (FUSE: "fuse", "fuse.sshfs",
// "fuseblk"), so that a read of it can stall for as long as that process
// likes.
func userServed(fstype string) bool {
	return strings.HasPrefix(fstype, "fuse")
}
