package monitor

import (
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// BenchmarkInodeMap measures recording the sockets of a process that
// holds 8 (the scale test's processes) and 10,000 (a busy server).
func BenchmarkInodeMap(b *testing.B) {
	for _, n := range []int{8, 10_000} {
		b.Run(map[int]string{8: "8-sockets", 10_000: "10000-sockets"}[n], func(b *testing.B) {
			t, err := newProcTable("/proc", time.Now, newIdentityResolver(nil))
			if err != nil {
				b.Fatal(err)
			}
			inodes := make([]uint64, n)
			for i := range inodes {
				inodes[i] = uint64(1_000_000 + i)
			}
			t.mu.Lock()
			e := t.add(4242, &model.Process{PID: 4242}, false)
			t.mu.Unlock()
			b.ReportAllocs()
			for b.Loop() {
				t.mu.Lock()
				t.setSockets(4242, e, inodes, int64(n))
				t.mu.Unlock()
			}
		})
	}
}
