package netns

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// Host is what bwmon knows of the host's network namespace (the
// kernel's init_net), against which processes' namespaces are labelled: a
// process in it carries no netns label, one elsewhere carries the other
// namespace's name.
type Host struct {
	ino  uint64 // 0: unknown, and no process gets a label
	from string // where ino was read
	// err says why PID 1's namespace could not be read (nil: it could).
	err error
}

const (
	// initNetInode is the inode of init_net on kernels that give the
	// initial namespaces fixed numbers (PROC_NET_INIT_INO, as on Linux
	// 6.18). Namespaces made later are numbered from 0xF0000000 up
	// (PROC_DYNAMIC_FIRST), so no other namespace ever has it, on any
	// kernel: a namespace with this inode is the host's.
	initNetInode = 0xEFFFFFF9
	// pfKthread is PF_KTHREAD in the flags of /proc/PID/stat.
	pfKthread = 0x00200000
)

// FindHost reads the inode of the host's network namespace with stat
// (Inode, or a fake): PID 1's namespace; else, when PID 1's cannot be
// read (no CAP_SYS_PTRACE, or a PID 1 that is not dumpable), a kernel
// thread's (PID 2, kthreadd, which the kernel keeps in init_net and whose
// namespace root may read, having no memory to protect); else bwmon's own,
// when its inode is init_net's fixed one. Where none of these tells, ino
// is 0: better no label than every process labelled with a namespace that
// is in fact the host's.
func FindHost(procRoot string, stat func(path string) (uint64, error)) Host {
	pid1 := procRoot + "/1/ns/net"
	ino, err := stat(pid1)
	if err == nil {
		return Host{ino: ino, from: pid1}
	}
	h := Host{err: fmt.Errorf("reading %s: %w", pid1, err)}
	if isKernelThread(procRoot, 2) {
		kt := procRoot + "/2/ns/net"
		if ino, err := stat(kt); err == nil {
			h.ino, h.from = ino, kt
			return h
		}
	}
	self := procRoot + "/self/ns/net"
	if ino, err := stat(self); err == nil && ino == initNetInode {
		h.ino, h.from = ino, self
	}
	return h
}

// isKernelThread reports whether process pid is a kernel thread: only the
// host's PID namespace shows them.
func isKernelThread(procRoot string, pid int) bool {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	flags, ok := statFlags(string(b))
	return ok && flags&pfKthread != 0
}

// statFlags returns the flags field (the 9th) of a /proc/PID/stat line.
// The command name, in parentheses, may hold spaces and parentheses of its
// own: the fields are counted from the last ')'.
func statFlags(stat string) (uint64, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	// After ") ": state ppid pgrp session tty_nr tpgid flags.
	f := strings.Fields(stat[i+1:])
	if len(f) < 7 {
		return 0, false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		// ParseUint gives the largest value on overflow: never report it.
		return 0, false
	}
	return flags, true
}

// Report logs, once for the monitor, that PID 1's namespace could not be
// read, what bwmon does instead, and how to fix it. Nothing is logged when
// PID 1's was read.
func (h Host) Report(log *slog.Logger) {
	if h.err == nil {
		return
	}
	const fix = "bwmon needs CAP_SYS_PTRACE and the host's PID namespace (a container: --pid=host)"
	if h.ino != 0 {
		log.Info("could not read the host's network namespace from PID 1; read it elsewhere", "from", h.from, "err", h.err, "fix", fix)
		return
	}
	log.Warn("cannot tell the host's network namespace: processes carry no netns label", "err", h.err, "fix", fix)
}
