package identity

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Account is a line of /etc/passwd.
type Account struct {
	Name, Home string
}

// ParsePasswd reads /etc/passwd content into accounts by UID. Comments,
// NIS "+" lines, malformed lines and lines longer than 64 KiB are skipped;
// the first line of a UID wins, as getpwuid does. The names are as the file
// has them: Resolver cleans what it hands out.
func ParsePasswd(r io.Reader) (map[int]Account, error) {
	out := make(map[int]Account)
	br := bufio.NewReaderSize(r, maxPasswdLine)
	long := false // in a line longer than the buffer: skip to its end
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			long = true
			continue
		case long:
			long = false // the tail of the long line
		default:
			addPasswdLine(out, strings.TrimSuffix(string(line), "\n"))
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// addPasswdLine adds the account of one line of /etc/passwd to out.
func addPasswdLine(out map[int]Account, line string) {
	if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
		return
	}
	f := strings.Split(line, ":")
	if len(f) < 7 || f[0] == "" {
		return
	}
	uid, err := strconv.Atoi(f[2])
	if err != nil || uid < 0 {
		return
	}
	if _, dup := out[uid]; !dup {
		out[uid] = Account{Name: f[0], Home: f[5]}
	}
}

// ParseStatusUID returns the effective UID from the content of
// /proc/PID/status (its "Uid:" line: real, effective, saved, filesystem).
func ParseStatusUID(content string) (int, bool) {
	for len(content) > 0 {
		line, rest, _ := strings.Cut(content, "\n")
		content = rest
		v, ok := strings.CutPrefix(line, "Uid:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 2 {
			return 0, false
		}
		uid, err := strconv.Atoi(f[1])
		return uid, err == nil && uid >= 0
	}
	return 0, false
}

// Users looks up accounts in Root/etc/passwd, read once and again when the
// file changes. The zero value reads /etc/passwd. It is safe for
// concurrent use.
type Users struct {
	// Root is the directory /etc/passwd is under ("" for "/").
	Root string

	mu       sync.Mutex
	accounts map[int]Account
	mtime    time.Time
	size     int64
	loaded   bool
}

// Lookup returns the account of uid. A UID not found makes it check
// whether the file changed (one stat), so new users are found. The file is
// read only when it is a regular one owned by root (or bwmon's user) of at
// most 16 MiB.
func (u *Users) Lookup(uid int) (Account, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if a, ok := u.accounts[uid]; ok {
		return a, true
	}
	path := filepath.Join(rootDir(u.Root), "etc", "passwd")
	st, err := os.Stat(path)
	if err != nil || (u.loaded && st.ModTime().Equal(u.mtime) && st.Size() == u.size) {
		return Account{}, false
	}
	b, err := readTrusted(path, maxPasswd, budget{})
	if err != nil {
		return Account{}, false
	}
	accounts, err := ParsePasswd(bytes.NewReader(b))
	if err != nil {
		return Account{}, false
	}
	u.accounts, u.mtime, u.size, u.loaded = accounts, st.ModTime(), st.Size(), true
	a, ok := u.accounts[uid]
	return a, ok
}
