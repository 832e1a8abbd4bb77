package identity

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParsePasswd(t *testing.T) {
	f, err := os.Open("testdata/host/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParsePasswd(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Account{
		0:    {Name: "root", Home: "/root"}, // the first line of UID 0 wins
		1:    {Name: "daemon", Home: "/usr/sbin"},
		33:   {Name: "www-data", Home: "/var/www"},
		1000: {Name: "alice", Home: "/home/alice"},
	}
	if len(got) != len(want) {
		t.Fatalf("ParsePasswd = %v, want %v", got, want)
	}
	for uid, a := range want {
		if got[uid] != a {
			t.Errorf("uid %d = %+v, want %+v", uid, got[uid], a)
		}
	}
}

func TestParseStatusUID(t *testing.T) {
	tests := []struct {
		name, content string
		want          int
		ok            bool
	}{
		{"effective, not real", "Name:\tsudo\nUid:\t1000\t0\t0\t0\nGid:\t1000\t0\t0\t0\n", 0, true},
		{"plain", "Name:\tcurl\nUid:\t1000\t1000\t1000\t1000\n", 1000, true},
		{"large uid", "Uid:\t100999\t100999\t100999\t100999", 100999, true},
		{"no uid line", "Name:\tx\nGid:\t0\t0\t0\t0\n", 0, false},
		{"short uid line", "Uid:\t5\n", 0, false},
		{"not a number", "Uid:\ta\tb\tc\td\n", 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseStatusUID(tt.content)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ParseStatusUID = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

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
