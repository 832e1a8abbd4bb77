package sockets

import (
	"errors"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestCache: a table is read again once older than FreshFor for the event
// path or KeepFor for the tick, per namespace and name, on the injected
// clock; a failed read is not kept; tables not asked for are swept.
func TestCache(t *testing.T) {
	clock := nettest.NewClock(time.Unix(1000, 0))
	c := NewCache(clock.Now)
	reads := map[tableKey]int{}
	fail := false
	rows := func(ns uint64, name string, fresh bool) error {
		_, err := c.Rows(ns, name, fresh, func() ([]Socket, error) {
			reads[tableKey{ns, name}]++
			if fail {
				return nil, errors.New("no such file")
			}
			return []Socket{{Inode: ns}}, nil
		})
		return err
	}
	steps := []struct {
		name    string
		advance time.Duration
		ns      uint64
		table   string
		fresh   bool
		fail    bool
		want    int // reads of (ns, table) so far
		wantErr bool
	}{
		{"first read", 0, 1, "raw", false, false, 1, false},
		{"kept for the tick", 500 * time.Millisecond, 1, "raw", false, false, 1, false},
		{"too old for the event path", 0, 1, "raw", true, false, 2, false},
		{"fresh enough for the event path", FreshFor / 2, 1, "raw", true, false, 2, false},
		{"another table", 0, 1, "icmp", false, false, 1, false},
		{"another namespace's table", 0, 2, "raw", false, false, 1, false},
		{"too old for the tick", KeepFor, 1, "raw", false, false, 3, false},
		{"a failure is not kept", KeepFor, 2, "raw", false, true, 2, true},
		{"read again after a failure", 0, 2, "raw", false, false, 3, false},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		fail = s.fail
		err := rows(s.ns, s.table, s.fresh)
		if (err != nil) != s.wantErr {
			t.Errorf("%s: err %v, want an error %v", s.name, err, s.wantErr)
		}
		if got := reads[tableKey{s.ns, s.table}]; got != s.want {
			t.Errorf("%s: %d reads of namespace %d's %s, want %d", s.name, got, s.ns, s.table, s.want)
		}
	}
	clock.Advance(10 * KeepFor)
	if err := rows(3, "tcp", false); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	n := len(c.tables)
	c.mu.Unlock()
	if n != 1 {
		t.Errorf("%d tables kept after a sweep, want 1 (the one just read)", n)
	}
}
