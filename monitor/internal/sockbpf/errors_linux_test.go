package sockbpf

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestOpenCapabilities: CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN are
// enough (the systemd unit grants those), with no other capability.
func TestOpenCapabilities(t *testing.T) {
	nettest.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		nettest.Missing(t, "setpriv not found: apt-get install util-linux")
	}
	caps := "-all,+bpf,+perfmon,+net_admin"
	cmd := exec.Command("setpriv", "--inh-caps="+caps, "--bounding-set="+caps, os.Args[0], "-test.run", "^TestHolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), holderEnv+"=1", holderEnv+"_EXIT=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ready") {
		t.Fatalf("with %s: %v\n%s", caps, err, out)
	}
}

// TestOpenUnsupported: where the host cannot run the programs, Open's
// error wraps ErrUnsupported and says what to do.
func TestOpenUnsupported(t *testing.T) {
	nettest.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		nettest.Missing(t, "setpriv not found: apt-get install util-linux")
	}
	for _, tc := range []struct {
		name    string
		setpriv []string
		cgroup  string
		want    []string
	}{
		{
			name:    "no capabilities",
			setpriv: []string{"--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"},
			want:    []string{"unsupported=true", "CAP_BPF", "CAP_PERFMON"},
		},
		{
			name:   "not a cgroup",
			cgroup: t.TempDir(),
			want:   []string{"unsupported=true", "cgroup v2"},
		},
		{
			name:   "no such cgroup",
			cgroup: "/nonexistent/cgroup",
			want:   []string{"unsupported=true", "/nonexistent/cgroup"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.setpriv, os.Args[0], "-test.run", "^TestHolder$", "-test.count=1")
			cmd := exec.Command("setpriv", args...)
			cmd.Env = append(os.Environ(), holderEnv+"=1", holderEnv+"_CGROUP="+tc.cgroup)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("holder: %v, want exit 1\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("Open's error %q does not say %q", strings.TrimSpace(string(out)), w)
				}
			}
			t.Logf("%s", strings.TrimSpace(string(out)))
		})
	}
}
