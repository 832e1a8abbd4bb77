//go:build unix

package state

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// requireRoot skips a test that needs root, except in CI, which runs as
// root: there it fails (nettest.Missing).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		nettest.Missing(t, "needs root: changes the owner of files (run the tests as root)")
	}
}

const nobody = 65534

func TestStateDirChecks(t *testing.T) {
	tests := []struct {
		name string
		root bool
		// setup returns the Dir to open, under base (a directory of the
		// test's own, mode 0700).
		setup func(t *testing.T, base string) string
		want  string // in the error; "" for none
	}{
		{"a directory of the agent's own", false, func(t *testing.T, base string) string {
			return filepath.Join(base, "state")
		}, ""},
		{"group-writable", false, func(t *testing.T, base string) string {
			return mkdir(t, filepath.Join(base, "state"), 0o770)
		}, "chmod 0700"},
		{"world-writable like /tmp", false, func(t *testing.T, base string) string {
			return mkdir(t, filepath.Join(base, "state"), 0o1777)
		}, "may be written by its group or others"},
		{"owned by another user", true, func(t *testing.T, base string) string {
			d := mkdir(t, filepath.Join(base, "state"), 0o700)
			chown(t, d, nobody)
			return d
		}, "run chown"},
		{"a link StateDirectory= makes with DynamicUser=yes", false, func(t *testing.T, base string) string {
			target := mkdir(t, filepath.Join(base, "private", "bwmon"), 0o700)
			return link(t, target, filepath.Join(base, "bwmon"))
		}, ""},
		{"a link in a world-writable directory", false, func(t *testing.T, base string) string {
			target := mkdir(t, filepath.Join(base, "mine"), 0o700)
			tmp := mkdir(t, filepath.Join(base, "tmp"), 0o1777)
			return link(t, target, filepath.Join(tmp, "bwmon"))
		}, "is a symlink"},
		{"a link another user owns", true, func(t *testing.T, base string) string {
			target := mkdir(t, filepath.Join(base, "mine"), 0o700)
			l := link(t, target, filepath.Join(base, "bwmon"))
			if err := os.Lchown(l, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return l
		}, "owned by uid 65534"},
		{"a trusted link to a group-writable directory", false, func(t *testing.T, base string) string {
			target := mkdir(t, filepath.Join(base, "shared"), 0o775)
			return link(t, target, filepath.Join(base, "bwmon"))
		}, "chmod 0700"},
		{"a file", false, func(t *testing.T, base string) string {
			p := filepath.Join(base, "state")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				requireRoot(t)
			}
			dir := tt.setup(t, t.TempDir())
			s, err := Open(Options{Dir: dir, Flush: time.Hour})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				s.Consume(snap(time.Now(), 0, "curl", 1, 1))
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := ReadHistory(dir, time.Time{}, utc, time.Second); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open: %v, want %q", err, tt.want)
			}
			if _, serr := os.Lstat(filepath.Join(dir, FileName)); serr == nil {
				t.Fatalf("a store was created in a refused directory")
			}
		})
	}
}

func mkdir(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func link(t *testing.T, target, path string) string {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// victim is a file of the test's own outside the state directory, which a
// planted link points to.
func victim(t *testing.T) (path string, content []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "precious")
	content = []byte("not bwmon's to truncate\n")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, content
}

func TestPlantedLockFileNotFollowed(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, target, path string)
		want  string
	}{
		{"symlink", func(t *testing.T, target, path string) { link(t, target, path) }, "is a symlink"},
		{"hard link", func(t *testing.T, target, path string) {
			if err := os.Link(target, path); err != nil {
				t.Fatal(err)
			}
		}, "with one link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir := mkdir(t, filepath.Join(base, "state"), 0o700)
			// The victim beside the directory: a hard link needs the same
			// file system.
			target := filepath.Join(base, "precious")
			content := []byte("not bwmon's to truncate\n")
			if err := os.WriteFile(target, content, 0o600); err != nil {
				t.Fatal(err)
			}
			tt.plant(t, target, filepath.Join(dir, LockName))
			s, err := Open(Options{Dir: dir, Flush: time.Hour})
			if err == nil {
				s.Close()
			}
			if b, _ := os.ReadFile(target); !bytes.Equal(b, content) {
				t.Fatalf("the file a planted %s points to now holds %q", tt.name, b)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "remove it") {
				t.Fatalf("Open: %v, want a refusal saying %q and how to fix it", err, tt.want)
			}
		})
	}
}

func TestPlantedStoreFileNotFollowed(t *testing.T) {
	target, content := victim(t)
	dir := t.TempDir()
	link(t, target, filepath.Join(dir, FileName))
	var logs bytes.Buffer
	s, err := Open(Options{Dir: dir, Flush: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Consume(snap(time.Now(), 0, "curl", 1, 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); !bytes.Equal(b, content) {
		t.Fatalf("the file a planted bwmon.db link points to now holds %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, FileName)); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("bwmon.db is not a new regular file: %v, %v", fi, err)
	}
	if !strings.Contains(logs.String(), "is a symlink") {
		t.Fatalf("log does not say why the store was moved aside:\n%s", logs.String())
	}
}

func TestCorruptCopiesKeepTheNewest(t *testing.T) {
	dir := t.TempDir()
	old := []string{
		"bwmon.db.corrupt-20250101T000000000Z",
		"bwmon.db.corrupt-20250201T000000000Z",
		"bwmon.db.corrupt-20250301T000000000Z",
		"bwmon.db.corrupt-20250401T000000000Z",
	}
	others := []string{"bwmon.db.corrupt-keep", "notes"}
	for _, n := range append(slices.Clone(old), others...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), bytes.Repeat([]byte("bwmon"), 3000), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	open(t, dir, &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, utc)}, &logs)
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	var got []string
	for _, n := range names {
		got = append(got, filepath.Base(n))
	}
	want := []string{"bwmon.db", "bwmon.db.corrupt-20250301T000000000Z", "bwmon.db.corrupt-20250401T000000000Z",
		"bwmon.db.corrupt-20250601T120000000Z", "bwmon.db.corrupt-keep", "bwmon.lock", "notes"}
	if !slices.Equal(got, want) {
		t.Fatalf("state directory holds %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "deleted older corrupt state copies") ||
		!strings.Contains(logs.String(), "bwmon.db.corrupt-20250101T000000000Z bwmon.db.corrupt-20250201T000000000Z") {
		t.Fatalf("log does not say which copies were deleted:\n%s", logs.String())
	}
}

// damage writes a store with a few days, then overwrites the type of every
// page past the meta and freelist pages: the meta pages' checksums still
// hold, so bbolt opens it, and panics on the first page it reads.
func damage(t *testing.T, dir string) {
	t.Helper()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, utc)
	s := open(t, dir, &clock{t: t0}, nil)
	for d := range 3 {
		s.Consume(snap(t0.AddDate(0, 0, d), 0, "curl", 100*(d+1), 1, "sshd", 5*(d+1), 1))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	for off := 3 * page; off+page <= len(b); off += page {
		b[off+8], b[off+9] = 0x5a, 0x5a // the page's flags
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedStoreIsAnErrorNotAPanic(t *testing.T) {
	dir := t.TempDir()
	damage(t, dir)
	_, err := ReadHistory(dir, time.Time{}, utc, time.Second)
	t.Logf("ReadHistory: %v", err)
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("ReadHistory of a damaged store: %v, want ErrDamaged", err)
	}
	// The file was closed: the agent takes it (and moves it aside).
	var logs bytes.Buffer
	s := open(t, dir, &clock{t: time.Date(2025, 6, 5, 0, 0, 0, 0, utc)}, &logs)
	if !strings.Contains(logs.String(), "state store unreadable") {
		t.Fatalf("the agent did not move the damaged store aside:\n%s", logs.String())
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
}
