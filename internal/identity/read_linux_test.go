package identity

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadProc(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		path     string
		limit    int64
		want     string
		wantOver bool
		wantErr  error
	}{
		{name: "small", path: write("small", "0::/\n"), limit: 64, want: "0::/\n"},
		{name: "exactly the cap", path: write("cap", strings.Repeat("a", 64)), limit: 64, want: strings.Repeat("a", 64)},
		{name: "over the cap", path: write("over", strings.Repeat("a", 3*readChunk)), limit: 64, want: strings.Repeat("a", 64), wantOver: true},
		{name: "over a large cap", path: write("big", strings.Repeat("b", 3*readChunk)), limit: readChunk + 7, want: strings.Repeat("b", readChunk+7), wantOver: true},
		{name: "a directory", path: dir, limit: 64, wantErr: errNotRegular},
		{name: "procfs", path: "/proc/self/status", limit: maxProcStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, over, err := readProc(tt.path, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("readProc = %v, want %v", err, tt.wantErr)
			}
			if tt.name == "procfs" {
				if !strings.Contains(string(got), "\nUid:") {
					t.Fatalf("readProc(/proc/self/status) = %q, want its Uid line", got)
				}
				return
			}
			if string(got) != tt.want || over != tt.wantOver {
				t.Fatalf("readProc = %d bytes, over %v; want %d, %v", len(got), over, len(tt.want), tt.wantOver)
			}
		})
	}
}

// The kubelet's links are listed up to their cap.
func TestListDirCap(t *testing.T) {
	dir := t.TempDir()
	for i := range 40 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{1, 10, 40, 100} {
		names, err := listDir(dir, limit, budget{})
		if err != nil || len(names) != min(limit, 40) {
			t.Fatalf("listDir(limit %d) = %d names, %v; want %d", limit, len(names), err, min(limit, 40))
		}
	}
}
