package identity

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestUsersRereadsAChangedFile(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "etc", "passwd")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	line := "root:x:0:0:root:/root:/bin/bash\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	u := &Users{Root: root}
	if a, ok := u.Lookup(0); !ok || a.Name != "root" {
		t.Fatalf("Lookup(0) = %+v, %v; want root", a, ok)
	}
	if _, ok := u.Lookup(1001); ok {
		t.Fatal("Lookup(1001) found a user not in the file")
	}
	line += "bob:x:1001:1001::/home/bob:/bin/sh\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	// Make the change visible even where mtime has a coarse grain.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if a, ok := u.Lookup(1001); !ok || a.Name != "bob" {
		t.Fatalf("after the file changed, Lookup(1001) = %+v, %v; want bob", a, ok)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if a, ok := u.Lookup(0); !ok || a.Name != "root" {
		t.Fatalf("a known user must stay known when the file goes: %+v, %v", a, ok)
	}
}
