package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/internal/nettest"
)

// systemdAnalyze finds systemd-analyze (Debian's systemd package): a
// machine without it skips the test, CI (which installs it) fails.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		nettest.Missing(t, "no systemd-analyze (apt-get install systemd): %v", err)
	}
	return p
}

// verifyUnit runs `systemd-analyze verify` on the unit text, with the
// installed bwmon at bin in place of /usr/local/bin/bwmon (verify checks
// that ExecStart exists). It returns what verify printed; a clean unit
// prints nothing.
func verifyUnit(t *testing.T, analyze, unit, bin string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bwmon.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/bwmon", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil && len(out) == 0 {
		out = []byte(err.Error())
	}
	return string(bytes.TrimSpace(out))
}

// TestInstallAndUnit runs `make install` into a temporary root, twice, and
// verifies the installed unit.
func TestInstallAndUnit(t *testing.T) {
	analyze := systemdAnalyze(t)
	root := t.TempDir()
	install := func() {
		cmd := exec.Command("make", "-s", "install", "DESTDIR="+root)
		cmd.Dir = nettest.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
	}
	install()
	bin := filepath.Join(root, "usr/local/bin/bwmon")
	conf := filepath.Join(root, "etc/bwmon/config.toml")
	unitPath := filepath.Join(root, "etc/systemd/system/bwmon.service")
	example, err := os.ReadFile("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(conf); err != nil || !bytes.Equal(b, example) {
		t.Fatalf("installed config (%v) is not config.example.toml", err)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("installed binary: %v, %v", fi, err)
	}
	// A second install keeps the administrator's configuration.
	mine := append(example, "\n# edited by the administrator\n"...)
	if err := os.WriteFile(conf, mine, 0o644); err != nil {
		t.Fatal(err)
	}
	install()
	if b, _ := os.ReadFile(conf); !bytes.Equal(b, mine) {
		t.Fatal("make install overwrote an existing /etc/bwmon/config.toml")
	}
	// ExecReload's check passes on the installed configuration.
	if out, err := exec.Command(bin, "-check-config", "-config", conf).CombinedOutput(); err != nil {
		t.Fatalf("bwmon -check-config on the installed config: %v\n%s", err, out)
	}

	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, line := range []string{
		"ExecStart=/usr/local/bin/bwmon -config /etc/bwmon/config.toml -output none",
		"ExecReload=/usr/local/bin/bwmon -check-config -config /etc/bwmon/config.toml",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=on-failure",
		"StateDirectory=bwmon",
		"DynamicUser=yes",
		"AmbientCapabilities=CAP_NET_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_BPF CAP_PERFMON",
		"CapabilityBoundingSet=CAP_NET_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_BPF CAP_PERFMON",
		"Nice=-10",
	} {
		if !strings.Contains(unit, "\n"+line+"\n") {
			t.Errorf("the unit has no line %q", line)
		}
	}
	if out := verifyUnit(t, analyze, unit, bin); out != "" {
		t.Fatalf("systemd-analyze verify on the installed unit:\n%s", out)
	}
	// The check is not vacuous: verify reports a broken unit.
	broken := strings.Replace(unit, "Restart=on-failure", "Restart=on-failure\nRestartt=always", 1)
	if out := verifyUnit(t, analyze, broken, bin); !strings.Contains(out, "Restartt") {
		t.Fatalf("systemd-analyze verify did not report an unknown key; it printed %q", out)
	}
}
