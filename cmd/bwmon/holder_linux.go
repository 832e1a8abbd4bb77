package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/bwmon/bwmon/internal/safename"
)

// unitOf returns the systemd service pid runs in ("bwmon.service"), from
// /proc/PID/cgroup, sanitised (a delegated cgroup's name is anyone's
// choice); "" when it runs in none or cannot be read.
func unitOf(pid int) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	unit := ""
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for sc.Scan() {
		// "0::/system.slice/bwmon.service" (cgroup v2), or a v1 line
		// "1:name=systemd:/system.slice/bwmon.service".
		_, path, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		_, path, _ = strings.Cut(path, ":")
		// The innermost service: "user@0.service/app.slice/x.service"
		// runs in x.service.
		for _, part := range strings.Split(path, "/") {
			if strings.HasSuffix(part, ".service") {
				unit = part
			}
		}
		if unit != "" {
			break
		}
	}
	return safename.Clean(unit)
}
