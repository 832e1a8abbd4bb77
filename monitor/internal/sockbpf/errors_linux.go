package sockbpf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// loadError explains why the programs did not load.
func loadError(err error) error {
	var ve *ebpf.VerifierError
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: loading the BPF programs: %v: run as root or with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (Linux 5.8+); a kernel in lockdown (integrity/confidentiality) or with kernel.unprivileged_bpf_disabled refuses them too", ErrUnsupported, err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.E2BIG):
		return fmt.Errorf("%w: loading the BPF programs: %v: it needs Linux 5.12 or later with CONFIG_BPF_SYSCALL, CONFIG_CGROUP_BPF and BTF", ErrUnsupported, err)
	case errors.As(err, &ve):
		return fmt.Errorf("%w: the kernel's verifier rejected the BPF programs (it needs Linux 5.12 or later): %v", ErrUnsupported, err)
	case errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%w: loading the BPF programs: %v: lower [monitor] max_sockets or raise the memory cgroup's limit", ErrUnsupported, err)
	}
	return fmt.Errorf("loading the BPF programs: %w", err)
}

// attachError explains why a program did not attach to the cgroup.
func attachError(path string, typ ebpf.AttachType, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: attaching %s to the cgroup %s: %v: run as root or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON", ErrUnsupported, typ, path, err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EINVAL), errors.Is(err, unix.EBADF):
		return fmt.Errorf("%w: attaching %s to the cgroup %s with a bpf_link: %v: it needs Linux 5.12 or later and %s on a cgroup v2 mount", ErrUnsupported, typ, path, err, path)
	}
	return fmt.Errorf("attaching %s to the cgroup %s: %w", typ, path, err)
}

// Capabilities the programs need: CAP_BPF to load them (CAP_SYS_ADMIN
// before Linux 5.8), CAP_PERFMON for the pointers they follow (MPTCP
// subflows, the ring buffer), CAP_NET_ADMIN to attach them to a cgroup.
var neededCaps = []struct {
	bit  uint
	name string
}{
	{unix.CAP_BPF, "CAP_BPF"},
	{unix.CAP_PERFMON, "CAP_PERFMON"},
	{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"},
}

// checkCaps says which of the needed capabilities the process lacks in
// its effective set (CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON).
func checkCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil // let the system calls tell
	}
	has := func(bit uint) bool { return data[bit/32].Effective&(1<<(bit%32)) != 0 }
	var missing []string
	for _, c := range neededCaps {
		if !has(c.bit) && !(c.bit != unix.CAP_NET_ADMIN && has(unix.CAP_SYS_ADMIN)) {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: the process lacks %s: run as root or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (systemd: AmbientCapabilities=)", ErrUnsupported, strings.Join(missing, ", "))
	}
	return nil
}
