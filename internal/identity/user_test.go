package identity

import (
	"os"
	"strings"
	"testing"
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

func TestParsePasswdSkipsLongLines(t *testing.T) {
	in := "root:x:0:0:root:/root:/bin/sh\n" +
		"long:x:5:5:" + strings.Repeat("g", 3*maxPasswdLine) + ":/home/long:/bin/sh\n" +
		"bob:x:1001:1001::/home/bob:/bin/sh" // no newline at the end
	got, err := ParsePasswd(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Account{0: {Name: "root", Home: "/root"}, 1001: {Name: "bob", Home: "/home/bob"}}
	if len(got) != len(want) || got[0] != want[0] || got[1001] != want[1001] {
		t.Fatalf("ParsePasswd = %v, want %v", got, want)
	}
}
