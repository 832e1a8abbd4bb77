package deb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSystemd writes deb-systemd-helper, deb-systemd-invoke and systemctl
// into a new directory: each appends its name and arguments to $FAKE_LOG,
// and `deb-systemd-helper was-enabled` answers $FAKE_WAS_ENABLED (0: it
// was). It returns the directory, to put first on PATH.
func fakeSystemd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"deb-systemd-helper", "deb-systemd-invoke", "systemctl"} {
		script := "#!/bin/sh\necho \"" + name + " $*\" >>\"$FAKE_LOG\"\n" +
			"case \"$*\" in *was-enabled*) exit \"${FAKE_WAS_ENABLED:-0}\" ;; esac\nexit 0\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// inNamespace is the shell that runs "$@" in a mount namespace of its own
// (unshare -m, private propagation: nothing leaks to the host), where /run
// and /var/lib are empty tmpfs: /run/systemd/system exists when $SYSTEMD
// is 1 (a system booted with systemd) and not otherwise (a chroot or an
// image being built), and the state the postrm may delete is a copy
// made here. After the command, it logs which state directories are left.
const inNamespace = `set -e
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/lib
if [ "$SYSTEMD" = 1 ]; then mkdir -p /run/systemd/system; fi
mkdir -p /var/lib/private/bwmon
ln -s private/bwmon /var/lib/bwmon
if [ -n "${DPKG_ROOT:-}" ]; then
	mkdir -p "$DPKG_ROOT/var/lib/private/bwmon"
	ln -s private/bwmon "$DPKG_ROOT/var/lib/bwmon"
fi
rc=0
"$@" || rc=$?
for d in /var/lib/bwmon /var/lib/private/bwmon; do
	if [ -e "$d" ]; then echo "state $d kept"; else echo "state $d removed"; fi >>"$FAKE_LOG"
	if [ -n "${DPKG_ROOT:-}" ]; then
		if [ -e "$DPKG_ROOT$d" ]; then echo "state ROOT$d kept"; else echo "state ROOT$d removed"; fi >>"$FAKE_LOG"
	fi
done
exit $rc
`

// TestMaintainerScripts runs postinst, prerm and postrm with dpkg's
// arguments against fake systemd tools: the unit is enabled as debhelper
// does, started or restarted only where systemd runs the system (never in
// a chroot or an install into another root), stopped only on removal, and
// a purge deletes the state of the root it is given and no other.
func TestMaintainerScripts(t *testing.T) {
	requireRoot(t)
	need(t, "unshare")
	fake := fakeSystemd(t)
	enable := []string{
		"deb-systemd-helper unmask bwmon.service",
		"deb-systemd-helper --quiet was-enabled bwmon.service",
		"deb-systemd-helper enable bwmon.service",
	}
	kept := []string{"state /var/lib/bwmon kept", "state /var/lib/private/bwmon kept"}
	keptRoot := []string{"state /var/lib/bwmon kept", "state ROOT/var/lib/bwmon kept",
		"state /var/lib/private/bwmon kept", "state ROOT/var/lib/private/bwmon kept"}
	cat := func(parts ...[]string) []string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	tests := []struct {
		name       string
		script     string
		args       []string
		systemd    bool // /run/systemd/system exists
		dpkgRoot   bool // DPKG_ROOT is a scratch root (dpkg --root)
		wasEnabled bool
		want       []string
	}{
		{name: "install starts the service", script: "postinst", args: []string{"configure"},
			systemd: true, wasEnabled: true, want: cat(enable,
				[]string{"systemctl --system daemon-reload", "deb-systemd-invoke start bwmon.service"}, kept)},
		{name: "upgrade restarts it", script: "postinst", args: []string{"configure", "1.0"},
			systemd: true, wasEnabled: true, want: cat(enable,
				[]string{"systemctl --system daemon-reload", "deb-systemd-invoke restart bwmon.service"}, kept)},
		{name: "upgrade keeps it disabled", script: "postinst", args: []string{"configure", "1.0"},
			systemd: true, wasEnabled: false, want: cat([]string{
				"deb-systemd-helper unmask bwmon.service",
				"deb-systemd-helper --quiet was-enabled bwmon.service",
				"deb-systemd-helper update-state bwmon.service",
				"systemctl --system daemon-reload", "deb-systemd-invoke restart bwmon.service"}, kept)},
		{name: "install in a chroot enables, starts nothing", script: "postinst", args: []string{"configure"},
			systemd: false, wasEnabled: true, want: cat(enable, kept)},
		{name: "install into another root enables there, starts nothing", script: "postinst",
			args: []string{"configure"}, systemd: true, dpkgRoot: true, wasEnabled: true,
			want: cat(enable, keptRoot)},
		{name: "remove stops it", script: "prerm", args: []string{"remove"}, systemd: true,
			want: cat([]string{"deb-systemd-invoke stop bwmon.service"}, kept)},
		{name: "upgrade does not stop it", script: "prerm", args: []string{"upgrade", "2.0"}, systemd: true,
			want: kept},
		{name: "remove in another root stops nothing", script: "prerm", args: []string{"remove"},
			systemd: true, dpkgRoot: true, want: keptRoot},
		{name: "remove reloads systemd, keeps the state", script: "postrm", args: []string{"remove"},
			systemd: true, want: cat([]string{"systemctl --system daemon-reload"}, kept)},
		{name: "purge deletes the state", script: "postrm", args: []string{"purge"}, systemd: true,
			want: []string{"deb-systemd-helper purge bwmon.service",
				"state /var/lib/bwmon removed", "state /var/lib/private/bwmon removed"}},
		{name: "purge in another root deletes its state only", script: "postrm", args: []string{"purge"},
			systemd: true, dpkgRoot: true, want: []string{"deb-systemd-helper purge bwmon.service",
				"state /var/lib/bwmon kept", "state ROOT/var/lib/bwmon removed",
				"state /var/lib/private/bwmon kept", "state ROOT/var/lib/private/bwmon removed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "log")
			env := []string{"PATH=" + fake + ":" + os.Getenv("PATH"), "FAKE_LOG=" + log, "DPKG_ROOT=",
				"SYSTEMD=0", "FAKE_WAS_ENABLED=1"}
			if tt.systemd {
				env = append(env, "SYSTEMD=1")
			}
			if tt.dpkgRoot {
				env = append(env, "DPKG_ROOT="+filepath.Join(dir, "root"))
			}
			if tt.wasEnabled {
				env = append(env, "FAKE_WAS_ENABLED=0")
			}
			script, err := filepath.Abs(tt.script)
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-m", "--propagation", "private", "sh", "-c", inNamespace, "sh", "sh", script}, tt.args...)
			run(t, dir, env, "unshare", args...)
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(strings.TrimSpace(string(b)), "\n"); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("%s %s did:\n  %s\nwant:\n  %s", tt.script, strings.Join(tt.args, " "),
					strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
	if _, err := os.Lstat("/var/lib/dpkg/status"); err != nil {
		t.Fatalf("the host's /var/lib is not as it was: %v", err)
	}
}
