package main

import (
	"io"
	"os"
	"strconv"
)

// unitOf returns the systemd service pid runs in ("bwmon.service"), from
// /proc/PID/cgroup; "" when it runs in none or cannot be read.
func unitOf(pid int) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	return unitInCgroup(io.LimitReader(f, 64<<10))
}
