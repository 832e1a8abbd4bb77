package identity

import (
	"slices"
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	tests := []struct {
		name, content string
		want          []Mount
	}{
		{"root and a FUSE home",
			"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
				"98 22 0:52 / /home/bob rw,nosuid,nodev,relatime shared:50 - fuse.sshfs bob@host: rw,user_id=1000\n",
			[]Mount{{ID: 22, Root: "/", Point: "/", FSType: "ext4"}, {ID: 98, Root: "/", Point: "/home/bob", FSType: "fuse.sshfs"}}},
		{"no optional fields", "30 22 0:5 / /dev rw - devtmpfs udev rw\n", []Mount{{ID: 30, Root: "/", Point: "/dev", FSType: "devtmpfs"}}},
		{"several optional fields", "40 22 0:6 / /mnt rw shared:2 master:1 - tmpfs t rw\n", []Mount{{ID: 40, Root: "/", Point: "/mnt", FSType: "tmpfs"}}},
		{"escaped mount point", `50 22 0:7 / /home/a\040b\134c rw - fuse x rw` + "\n", []Mount{{ID: 50, Root: "/", Point: `/home/a b\c`, FSType: "fuse"}}},
		{"a backslash not escaping", `51 22 0:7 / /x\9 rw - tmpfs x rw` + "\n", []Mount{{ID: 51, Root: "/", Point: `/x\9`, FSType: "tmpfs"}}},
		{"a short escape, an escaped tab at the end, an escaped root", `52 22 0:7 /s\040t /a\12/end\011 rw - cgroup2 c rw` + "\n", []Mount{{ID: 52, Root: "/s t", Point: "/a\\12/end\t", FSType: "cgroup2"}}},
		{"no separator", "60 22 0:8 / /x rw shared:1 tmpfs t rw\n", nil},
		{"nothing after the separator", "61 22 0:8 / /x rw a -\n", nil},
		{"bad id", "x 22 0:8 / /x rw - tmpfs t rw\n", nil},
		{"short line", "1 2 3\n", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseMountInfo(tt.content); !slices.Equal(got, tt.want) {
				t.Fatalf("ParseMountInfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUserServed(t *testing.T) {
	for fstype, want := range map[string]bool{"fuse": true, "fuse.sshfs": true, "fuseblk": true, "ext4": false, "tmpfs": false, "": false, "nfs4": false} {
		if got := userServed(fstype); got != want {
			t.Errorf("userServed(%q) = %v, want %v", fstype, got, want)
		}
	}
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n98 22 0:52 / /home/bob rw - fuse.sshfs x rw\n")
	f.Add(`50 22 0:7 / /a\040b\1 rw - fuse x rw`)
	f.Add("1 2 3 4 5 6 - \n- - - - - - -")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range ParseMountInfo(s) {
			if m.FSType == "" || strings.ContainsAny(m.FSType, " \t\n") {
				t.Fatalf("ParseMountInfo(%q) gave %+v", s, m)
			}
		}
	})
}
