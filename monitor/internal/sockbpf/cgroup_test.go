package sockbpf

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCgroup2Root(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo, want string
		err                   error
	}{
		{
			name: "hybrid",
			mountinfo: `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
`,
			want: "/sys/fs/cgroup/unified",
		},
		{
			name:      "unified",
			mountinfo: "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
			want:      "/sys/fs/cgroup",
		},
		{
			name: "root mount preferred over a sub-tree",
			mountinfo: `40 24 0:30 /system.slice /mnt/sub rw shared:9 - cgroup2 cgroup2 rw
41 24 0:30 / /mnt/my\040cgroup rw shared:9 - cgroup2 cgroup2 rw
`,
			want: "/mnt/my cgroup",
		},
		{
			name:      "sub-tree only",
			mountinfo: "40 24 0:30 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
			want:      "/sys/fs/cgroup",
		},
		{
			name:      "cgroup v1 only",
			mountinfo: "33 31 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
			err:       errNoCgroup2,
		},
		{name: "empty", err: errNoCgroup2},
		{name: "garbage", mountinfo: "- cgroup2\n1 2 3\n - - - cgroup2 x\n", err: errNoCgroup2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCgroup2Root(strings.NewReader(tc.mountinfo))
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzParseCgroup2Root(f *testing.F) {
	f.Add("32 31 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
	f.Add("41 24 0:30 / /mnt/my\\040cgroup rw shared:9 - cgroup2 cgroup2 rw\n")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseCgroup2Root(strings.NewReader(s))
		if err == nil && !strings.HasPrefix(got, "/") {
			t.Fatalf("root %q is not absolute", got)
		}
	})
}
