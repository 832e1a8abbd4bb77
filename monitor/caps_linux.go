package monitor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// neededCaps are the capabilities a conntrack monitor cannot do without;
// root has them all. CAP_SYS_NICE (see Nice) is welcome but optional.
var neededCaps = []capability{
	{12, "CAP_NET_ADMIN"},      // conntrack netlink, nftables, proc connector, accounting sysctl
	{19, "CAP_SYS_PTRACE"},     // readlink of other users' /proc/PID/fd/N
	{2, "CAP_DAC_READ_SEARCH"}, // listing other users' /proc/PID/fd
}

// capability is one capability: its bit and name.
type capability struct {
	bit  uint
	name string
}

// missingCaps returns the needed capabilities that the effective set in
// status (the text of /proc/self/status) lacks.
func missingCaps(status string) ([]string, error) { return missingCapsOf(status, neededCaps) }

// missingCapsOf returns those of caps that the effective set in status
// lacks.
func missingCapsOf(status string, caps []capability) ([]string, error) {
	for _, line := range strings.Split(status, "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		eff, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("bad CapEff %q: %w", hex, err)
		}
		var missing []string
		for _, c := range caps {
			if eff&(1<<c.bit) == 0 {
				missing = append(missing, c.name)
			}
		}
		return missing, nil
	}
	return nil, fmt.Errorf("no CapEff line")
}

// checkCaps reports, with how to fix it, which needed capabilities bwmon
// runs without.
func checkCaps() error {
	const status = "/proc/self/status"
	b, err := os.ReadFile(status)
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	missing, err := missingCaps(string(b))
	if err != nil {
		return fmt.Errorf("reading capabilities from %s: %w", status, err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("bwmon lacks %s to read conntrack and every process's sockets: run it as root, or give it CAP_NET_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH as bwmon.service does", strings.Join(missing, ", "))
	}
	return nil
}
