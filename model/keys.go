package model

import "strconv"

// KeyProcess is the key of a process's entry: its PID and start time, so that
// a reused PID gets an entry of its own, and its executable, so that a
// process that calls exec does too.
func KeyProcess(p *Process) Key {
	return Key("pid/" + strconv.Itoa(p.PID) + "/" + strconv.FormatUint(p.StartTime, 10) + "/" + p.Exe)
}

// KeyApp is the key of an entry with a fixed app name (a pipe).
func KeyApp(name string) Key { return Key("app/" + name) }

// KeyUnattributed is the key of the unattributed bytes of one reason.
func KeyUnattributed(r Reason) Key { return Key("unattributed/" + string(r)) }

// KeyForwarded is the key of the forwarded bytes between two hosts.
func KeyForwarded(h HostPair) Key {
	return Key("forwarded/" + h.Inside.String() + "/" + h.Remote.String())
}
