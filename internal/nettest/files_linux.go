package nettest

import (
	"os"
	"syscall"
	"testing"
)

// SocketInode returns the inode of the socket behind c, as /proc/PID/fd
// and sock_diag name it.
func SocketInode(tb testing.TB, c syscall.Conn) uint64 {
	tb.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var st syscall.Stat_t
	if cerr := rc.Control(func(fd uintptr) { err = syscall.Fstat(int(fd), &st) }); cerr != nil {
		tb.Fatal(cerr)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return st.Ino
}

// OpenFiles counts this process's open files: a test that opens and
// closes something checks that the count is back where it was.
func OpenFiles(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	return len(ents)
}
