package deb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/internal/nettest"
)

// requireRoot skips t unless it runs as root; under CI (CI=true), where the
// tests run as root, it fails instead (nettest.Missing).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		nettest.Missing(t, "needs root: installs the package into scratch roots with dpkg --root, in mount namespaces")
	}
}

// need skips t when one of the commands is missing, naming the Debian
// package to install; under CI, which installs them, it fails
// (nettest.Missing).
func need(t *testing.T, commands ...string) {
	t.Helper()
	from := map[string]string{
		"dpkg": "dpkg", "dpkg-deb": "dpkg", "dpkg-buildflags": "dpkg-dev", "dpkg-shlibdeps": "dpkg-dev",
		"lintian": "lintian", "unshare": "util-linux", "systemd-analyze": "systemd", "git": "git",
		"make": "make", "go": "Go (/usr/local/go/bin on PATH)", "strip": "binutils",
	}
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			nettest.Missing(t, "%s is missing: apt-get install %s (.ci/run installs it)", c, from[c])
		}
	}
}

// repoRoot returns the top of the repository (go test runs in the
// package's directory).
func repoRoot(t *testing.T) string {
	t.Helper()
	top, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// run runs name with args in dir (the repository when "") and returns its
// standard output; it fails t, with what was printed, if the command
// fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// runErr is run that returns the error with the output (stdout, then
// stderr) instead of failing.
func runErr(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = "../.."
	}
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}
