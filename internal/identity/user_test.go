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

func FuzzParsePasswd(f *testing.F) {
	for _, s := range []string{
		"root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n",
		"# c\n+nis::::::\n-x\nbad:x:-1:0::/:/\nshort:x:1\n",
		"a:x:1:1::/h:/s\na:x:1:1::/other:/s",
		"\xff\x1b:x:7:7::/home/\u202e:/bin/sh",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePasswd(strings.NewReader(s))
		if err != nil {
			t.Fatalf("ParsePasswd: %v (a string reader never fails)", err)
		}
		for uid, a := range got {
			if uid < 0 || a.Name == "" || strings.ContainsAny(a.Name+a.Home, ":\n") {
				t.Fatalf("ParsePasswd gave uid %d %+v", uid, a)
			}
		}
	})
}

func FuzzParseStatusUID(f *testing.F) {
	for _, s := range []string{
		"Name:\tsudo\nUid:\t1000\t0\t0\t0\n", "Uid:\t5\n", "Uid:\ta\tb\tc\td\n", "", "Uid:\t1\t-3\t1\t1",
		"Uid:\t1\t99999999999999999999999\t1\t1\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		uid, ok := ParseStatusUID(s)
		if ok && uid < 0 {
			t.Fatalf("ParseStatusUID(%q) = %d, ok", s, uid)
		}
		if ok && !strings.Contains(s, "Uid:") {
			t.Fatalf("ParseStatusUID(%q) found a UID without a Uid line", s)
		}
	})
}
