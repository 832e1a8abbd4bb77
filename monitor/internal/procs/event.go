package procs

import "encoding/binary"

// event is the part of a kernel proc connector event the table uses.
type event struct {
	what uint32 // eventFork, eventExec or eventExit
	pid  int    // the process (thread group) the event is about
	tid  int    // the thread; exit and exec matter only when tid == pid
	ppid int    // for fork: the parent
}

const (
	eventFork = 0x00000001
	eventExec = 0x00000002
	eventExit = 0x80000000

	sizeofCnMsg = 20
)

// parseEvent decodes a cn_msg carrying a struct proc_event.
func parseEvent(b []byte) (event, bool) {
	if len(b) < sizeofCnMsg+16 {
		return event{}, false
	}
	ev := b[sizeofCnMsg:]
	what := binary.NativeEndian.Uint32(ev[0:])
	d := ev[16:]
	i32 := func(off int) int { return int(int32(binary.NativeEndian.Uint32(d[off:]))) }
	switch what {
	case eventFork:
		if len(d) < 16 {
			return event{}, false
		}
		return event{what: what, ppid: i32(4), tid: i32(8), pid: i32(12)}, true
	case eventExec, eventExit:
		if len(d) < 8 {
			return event{}, false
		}
		return event{what: what, tid: i32(0), pid: i32(4)}, true
	}
	return event{}, false
}
