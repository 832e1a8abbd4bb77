package state

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantField string
		want      string // the start of the message; "" when valid
	}{
		{"defaults", Config{Dir: DefaultDir, Flush: DefaultFlush}, "", ""},
		{"no state", Config{Flush: MinFlush}, "", ""},
		{"relative dir", Config{Dir: "state", Flush: time.Minute}, "dir", `dir "state" is relative: write an absolute path such as "/var/lib/bwmon"`},
		{"flush too short", Config{Dir: DefaultDir, Flush: 10 * time.Millisecond}, "flush", "flush 10ms is too short: use at least 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *model.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || !strings.HasPrefix(fe.Err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want field %q and a message starting %q", err, tt.wantField, tt.want)
			}
		})
	}
}

// FuzzConfigValidate: a directory is valid when it is "" or absolute, a
// flush when it is at least MinFlush.
func FuzzConfigValidate(f *testing.F) {
	for _, s := range []struct {
		dir   string
		flush int64
	}{
		{"/var/lib/bwmon", int64(30 * time.Second)}, {"", int64(time.Second)}, {"state", int64(10 * time.Millisecond)},
		{"/a/../b/", 1}, {"/x\x00y", -1}, {"//", 0}, {"./", 1 << 62},
	} {
		f.Add(s.dir, s.flush)
	}
	f.Fuzz(func(t *testing.T, dir string, flush int64) {
		err := Config{Dir: dir, Flush: time.Duration(flush)}.Validate()
		want := (dir == "" || filepath.IsAbs(dir)) && time.Duration(flush) >= MinFlush
		if (err == nil) != want {
			t.Fatalf("Validate(%q, %s) = %v", dir, time.Duration(flush), err)
		}
	})
}
