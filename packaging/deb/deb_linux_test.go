package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pkg is a built .deb and what it was built with.
type pkg struct {
	path, version string
	config        []byte // its /etc/bwmon/config.toml
}

// buildDeb runs `make deb` into dir with the extra make variables.
func buildDeb(t *testing.T, dir string, config []byte, vars ...string) pkg {
	t.Helper()
	args := append([]string{"-s", "deb", "DEB_OUTDIR=" + dir}, vars...)
	start := time.Now()
	out := run(t, "", nil, "make", args...)
	t.Logf("make deb %s: %v", strings.Join(vars, " "), time.Since(start).Round(time.Millisecond))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	path := lines[len(lines)-1]
	version := strings.TrimSpace(run(t, "", nil, "dpkg-deb", "--field", path, "Version"))
	return pkg{path: path, version: version, config: config}
}

// scratchRoot makes an empty dpkg database under a new directory.
func scratchRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"status", "available"} {
		if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg", f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// dpkgIn runs dpkg on the scratch root, the way a package is installed into
// an image: maintainer scripts outside a chroot with DPKG_ROOT set
// (--force-script-chrootless), dependencies not checked (the root has no
// libc6 package). It runs in a mount namespace where /run/systemd/system
// exists, as on a booted system, with a systemctl and a deb-systemd-invoke
// that only log to startLog, so that a script that would start or stop the
// service on the host, here or on a real system, leaves a line there.
func dpkgIn(t *testing.T, root, fake, startLog string, args ...string) (string, error) {
	t.Helper()
	script := `set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/system
exec "$@"`
	all := append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh",
		"dpkg", "--root=" + root, "--force-not-root", "--force-script-chrootless", "--force-depends",
		"--log=/dev/null"}, args...)
	return runErr(root, []string{"PATH=" + fake + ":" + os.Getenv("PATH"), "FAKE_LOG=" + startLog}, "unshare", all...)
}

// startOnly is fakeSystemd without deb-systemd-helper: the real one
// enables the unit in the scratch root (it follows DPKG_ROOT).
func startOnly(t *testing.T) string {
	t.Helper()
	fake := fakeSystemd(t)
	if err := os.Remove(filepath.Join(fake, "deb-systemd-helper")); err != nil {
		t.Fatal(err)
	}
	return fake
}

// hostState is what the package would change if it were installed on this
// machine, and must not change when it is installed into scratch roots.
func hostState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/usr/bin/bwmon", "/etc/bwmon", "/var/lib/bwmon", "/var/lib/private/bwmon",
		"/lib/systemd/system/bwmon.service", "/usr/lib/systemd/system/bwmon.service",
		"/etc/systemd/system/multi-user.target.wants/bwmon.service",
		"/var/lib/systemd/deb-systemd-helper-enabled/bwmon.service.dsh-also",
		"/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/bwmon.service"} {
		fi, err := os.Lstat(p)
		if err != nil {
			b.WriteString(p + ": absent\n")
			continue
		}
		// Not the time: an agent running here may touch /var/lib/bwmon.
		link, _ := os.Readlink(p)
		b.WriteString(p + ": " + fi.Mode().String() + " " + link + "\n")
	}
	status, _ := exec.Command("dpkg-query", "-W", "-f", "${Status} ${Version}", "bwmon").CombinedOutput()
	b.WriteString("dpkg: " + string(status) + "\n")
	return b.String()
}

// TestPackage builds three packages, v1 from the tree, v1.1 the same one
// version later and v2 with a changed default configuration, checks them with lintian and their contents, and
// installs, upgrades and purges them in scratch roots.
func TestPackage(t *testing.T) {
	requireRoot(t)
	need(t, "make", "go", "git", "dpkg", "dpkg-deb", "dpkg-buildflags", "dpkg-shlibdeps", "strip", "lintian", "unshare")
	before := hostState(t)
	dir := t.TempDir()

	example, err := os.ReadFile("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	v1 := buildDeb(t, filepath.Join(dir, "v1"), example)
	v2config := bytes.Replace(example, []byte("\ninterval = \"1s\"\n"), []byte("\ninterval = \"2s\"\n"), 1)
	if bytes.Equal(v2config, example) {
		t.Fatal(`config.example.toml has no line interval = "1s" to change for v2`)
	}
	v2file := filepath.Join(dir, "config-v2.toml")
	if err := os.WriteFile(v2file, v2config, 0o644); err != nil {
		t.Fatal(err)
	}
	// v1.1 is v1 again, one version later: the default configuration has
	// not changed. Neither is compressed (xz takes 6 s), which dpkg ignores.
	v2 := buildDeb(t, filepath.Join(dir, "v2"), v2config, "DEB_VERSION="+v1.version+"+test2", "DEB_CONFIG="+v2file,
		"DEB_COMPRESS=none")
	v11 := buildDeb(t, filepath.Join(dir, "v1.1"), example, "DEB_VERSION="+v1.version+"+test1", "DEB_COMPRESS=none")

	t.Run("version", func(t *testing.T) {
		describe := os.Getenv("VERSION")
		if describe == "" {
			describe = strings.TrimSpace(run(t, "", nil, "git", "describe", "--tags", "--always", "--dirty"))
		}
		want, err := debianVersion(describe)
		if err != nil || v1.version != want {
			t.Errorf("make deb built version %q, want %q (of %q, %v)", v1.version, want, describe, err)
		}
		if _, err := runErr("", nil, "dpkg", "--compare-versions", v1.version, "lt", v2.version); err != nil {
			t.Errorf("v2 %s does not sort after v1 %s", v2.version, v1.version)
		}
	})

	t.Run("lintian", func(t *testing.T) {
		// Errors and warnings fail; info and pedantic tags are logged.
		out, err := runErr("", nil, "lintian", "--fail-on", "error,warning", "--info", "--pedantic", v1.path)
		var tags []string
		for _, l := range strings.Split(out, "\n") {
			if regexp.MustCompile(`^[EWIPX]: `).MatchString(l) {
				tags = append(tags, l)
			}
		}
		if err != nil {
			t.Fatalf("lintian %s: %v\n%s", v1.path, err, out)
		}
		if len(tags) > 0 {
			t.Logf("lintian, info and pedantic:\n%s", strings.Join(tags, "\n"))
		}
	})

	if !t.Run("contents", func(t *testing.T) { checkContents(t, v1) }) {
		t.FailNow()
	}

	t.Run("control", func(t *testing.T) {
		ctrl := controlFiles(t, v1.path)
		if got := string(ctrl["conffiles"]); got != "/etc/bwmon/config.toml\n" {
			t.Errorf("conffiles = %q, want /etc/bwmon/config.toml only", got)
		}
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			want, err := os.ReadFile(s)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ctrl[s], want) {
				t.Errorf("the package's %s is not packaging/deb/%s", s, s)
			}
		}
		fields := run(t, "", nil, "dpkg-deb", "--field", v1.path, "Package", "Architecture", "Depends")
		arch := strings.TrimSpace(run(t, "", nil, "dpkg", "--print-architecture"))
		for _, want := range []string{"Package: bwmon\n", "Architecture: " + arch + "\n", "Depends: libc6 (>= "} {
			if !strings.Contains(fields, want) {
				t.Errorf("control has no %q:\n%s", want, fields)
			}
		}
		// This machine's libc satisfies what dpkg-shlibdeps asked for.
		m := regexp.MustCompile(`libc6 \(>= ([^)]+)\)`).FindStringSubmatch(fields)
		libc := strings.TrimSpace(run(t, "", nil, "dpkg-query", "-W", "-f", "${Version}", "libc6"))
		if m == nil {
			t.Fatalf("no libc6 dependency in %q", fields)
		}
		run(t, "", nil, "dpkg", "--compare-versions", libc, "ge", m[1])
	})

	t.Run("install", func(t *testing.T) { checkInstall(t, v1) })

	t.Run("upgrade", func(t *testing.T) {
		edited := append(append([]byte{}, example...), "\n# edited by the administrator\n"...)
		edit := func(p string) error { return os.WriteFile(p, edited, 0o644) }
		tests := []struct {
			name string
			to   pkg
			// edit changes the installed v1 configuration (nil: left alone).
			edit func(path string) error
			// options: an edited configuration and a new default make dpkg
			// ask; without a terminal, --force-confold answers "keep".
			options  []string
			want     []byte // the configuration after the upgrade (nil: absent)
			wantDist []byte // config.toml.dpkg-dist (nil: absent)
		}{
			{name: "edited config, same default: kept without a question", to: v11, edit: edit, want: edited},
			{name: "edited config, new default: kept, the new default beside it", to: v2, edit: edit,
				options: []string{"--force-confold"}, want: edited, wantDist: v2config},
			{name: "untouched config takes the new default", to: v2, want: v2config},
			{name: "deleted config stays deleted, the new default beside it", to: v2, edit: os.Remove,
				options: []string{"--force-confold"}, wantDist: v2config},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				root := scratchRoot(t)
				fake, startLog := startOnly(t), filepath.Join(t.TempDir(), "log")
				if out, err := dpkgIn(t, root, fake, startLog, "--install", v1.path); err != nil {
					t.Fatalf("installing v1: %v\n%s", err, out)
				}
				conf := filepath.Join(root, "etc/bwmon/config.toml")
				if tt.edit != nil {
					if err := tt.edit(conf); err != nil {
						t.Fatal(err)
					}
				}
				args := append(append([]string{}, tt.options...), "--install", tt.to.path)
				if out, err := dpkgIn(t, root, fake, startLog, args...); err != nil {
					t.Fatalf("upgrading to %s: %v\n%s", tt.to.version, err, out)
				}
				checkFile(t, conf, tt.want)
				checkFile(t, conf+".dpkg-dist", tt.wantDist)
				checkFile(t, conf+".dpkg-old", nil)
				checkFile(t, conf+".dpkg-new", nil)
				bin := filepath.Join(root, "usr/bin/bwmon")
				if got := strings.TrimSpace(run(t, "", nil, bin, "-version")); got != "bwmon "+tt.to.version {
					t.Errorf("after the upgrade bwmon -version prints %q, want %q", got, "bwmon "+tt.to.version)
				}
				for _, c := range []string{conf, conf + ".dpkg-dist"} {
					if _, err := os.Stat(c); err == nil {
						run(t, "", nil, bin, "-check-config", "-config", c)
					}
				}
				checkFile(t, startLog, nil)
			})
		}
	})

	t.Run("remove and purge", func(t *testing.T) { checkPurge(t, v1) })

	if after := hostState(t); after != before {
		t.Errorf("the host changed:\nbefore:\n%safter:\n%s", before, after)
	}
}

// checkContents checks the files of the package, their modes and owners.
func checkContents(t *testing.T, p pkg) {
	list := run(t, "", nil, "dpkg-deb", "--contents", p.path)
	unit := ""
	for _, u := range []string{"./lib/systemd/system/bwmon.service", "./usr/lib/systemd/system/bwmon.service"} {
		if strings.Contains(list, " "+u+"\n") {
			unit = u
		}
	}
	if unit == "" {
		t.Fatalf("no bwmon.service in /lib/systemd/system or /usr/lib/systemd/system:\n%s", list)
	}
	want := map[string]string{
		"./usr/bin/bwmon":                     "-rwxr-xr-x",
		"./etc/bwmon/config.toml":             "-rw-r--r--",
		unit:                                  "-rw-r--r--",
		"./usr/share/doc/bwmon/copyright":     "-rw-r--r--",
		"./usr/share/doc/bwmon/changelog.gz":  "-rw-r--r--",
		"./usr/share/man/man1/bwmon.1.gz":     "-rw-r--r--",
		"./usr/share/lintian/overrides/bwmon": "-rw-r--r--",
	}
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents line %q", l)
		}
		mode, owner, path := f[0], f[1], f[len(f)-1]
		if owner != "root/root" {
			t.Errorf("%s belongs to %s, want root/root", path, owner)
		}
		switch {
		case strings.HasPrefix(path, "./var/"):
			t.Errorf("the package ships %s: the state directory is the unit's StateDirectory= (DynamicUser)", path)
		case mode[0] == 'd':
			if mode != "drwxr-xr-x" {
				t.Errorf("directory %s is %s, want drwxr-xr-x", path, mode)
			}
		case want[path] == "":
			t.Errorf("unexpected file %s (%s)", path, mode)
		case want[path] != mode:
			t.Errorf("%s is %s, want %s", path, mode, want[path])
		default:
			delete(want, path)
		}
	}
	for path := range want {
		t.Errorf("the package has no %s", path)
	}
	// The packaged configuration is the one it was built with.
	data := run(t, "", nil, "sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./etc/bwmon/config.toml`, "sh", p.path)
	if data != string(p.config) {
		t.Error("the packaged /etc/bwmon/config.toml is not the configuration it was built with")
	}
}

// controlFiles returns the files of the package's control archive by name.
func controlFiles(t *testing.T, deb string) map[string][]byte {
	t.Helper()
	cmd := exec.Command("dpkg-deb", "--ctrl-tarfile", deb)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dpkg-deb --ctrl-tarfile: %v", err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(h.Name, "./")] = b
	}
	return files
}

// checkFile checks that path holds want, or is absent when want is nil.
func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	switch {
	case want == nil && err == nil:
		t.Errorf("%s exists, want it absent", path)
	case want == nil && errors.Is(err, fs.ErrNotExist):
	case err != nil:
		t.Errorf("%s: %v", path, err)
	case !bytes.Equal(got, want):
		t.Errorf("%s holds %d bytes, not the %d expected:\n%s", path, len(got), len(want), tail(got))
	}
}

func tail(b []byte) string {
	if len(b) > 200 {
		b = b[len(b)-200:]
	}
	return string(b)
}

// checkInstall installs p into a scratch root and checks what is there.
func checkInstall(t *testing.T, p pkg) {
	root := scratchRoot(t)
	fake, startLog := startOnly(t), filepath.Join(t.TempDir(), "log")
	if out, err := dpkgIn(t, root, fake, startLog, "--install", p.path); err != nil {
		t.Fatalf("dpkg --install: %v\n%s", err, out)
	}
	status := run(t, "", nil, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"),
		"-W", "-f", "${Status} ${Version}", "bwmon")
	if want := "install ok installed " + p.version; status != want {
		t.Errorf("dpkg status %q, want %q", status, want)
	}
	unit := "lib/systemd/system/bwmon.service"
	if _, err := os.Stat(filepath.Join(root, unit)); err != nil {
		unit = "usr/lib/systemd/system/bwmon.service"
	}
	for _, f := range []struct {
		path string
		mode fs.FileMode
	}{
		{"usr/bin/bwmon", 0o755},
		{"etc/bwmon", fs.ModeDir | 0o755},
		{"etc/bwmon/config.toml", 0o644},
		{unit, 0o644},
		{"usr/share/doc/bwmon/copyright", 0o644},
		{"usr/share/man/man1/bwmon.1.gz", 0o644},
	} {
		fi, err := os.Lstat(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("installed: %v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != f.mode || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("/%s is %v %d:%d, want %v 0:0", f.path, fi.Mode(), st.Uid, st.Gid, f.mode)
		}
	}
	checkFile(t, filepath.Join(root, "etc/bwmon/config.toml"), p.config)

	bin := filepath.Join(root, "usr/bin/bwmon")
	if got := strings.TrimSpace(run(t, "", nil, bin, "-version")); got != "bwmon "+p.version {
		t.Errorf("bwmon -version prints %q, want %q", got, "bwmon "+p.version)
	}
	run(t, "", nil, bin, "-check-config", "-config", filepath.Join(root, "etc/bwmon/config.toml"))

	// Enabled in the scratch root as on a real system; started nowhere.
	link, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/bwmon.service"))
	if err != nil || link != "/"+unit {
		t.Errorf("the unit is not enabled in the scratch root: %q, %v", link, err)
	}
	checkFile(t, startLog, nil)

	b, err := os.ReadFile(filepath.Join(root, unit))
	if err != nil {
		t.Fatal(err)
	}
	checkUnit(t, string(b), bin)
	checkDocs(t, root, bin)
}

// checkUnit checks the packaged unit: it runs /usr/bin/bwmon, keeps its
// state through StateDirectory= under its dynamic user, and
// systemd-analyze verify finds nothing wrong with it.
func checkUnit(t *testing.T, unit, bin string) {
	t.Helper()
	if strings.Contains(unit, "/usr/local") {
		t.Error("the packaged unit still names /usr/local")
	}
	for _, line := range []string{
		"ExecStart=/usr/bin/bwmon -config /etc/bwmon/config.toml -output none",
		"ExecReload=/usr/bin/bwmon -check-config -config /etc/bwmon/config.toml",
		"Documentation=man:bwmon(1)",
		"DynamicUser=yes",
		"StateDirectory=bwmon",
		"StateDirectoryMode=0700",
	} {
		if !strings.Contains(unit, "\n"+line+"\n") {
			t.Errorf("the packaged unit has no line %q", line)
		}
	}
	need(t, "systemd-analyze")
	path := filepath.Join(t.TempDir(), "bwmon.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/bin/bwmon", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	// --man=no: the man page is in the scratch root, not where man looks.
	out, _ := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("systemd-analyze verify on the packaged unit:\n%s", s)
	}
}

// checkDocs checks that the man page names every flag of `bwmon -h` and
// that the copyright file covers every module linked into the binary.
func checkDocs(t *testing.T, root, bin string) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "usr/share/man/man1/bwmon.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	man, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	flags := regexp.MustCompile(`(?m)^  (-[a-z-]+)`).FindAllStringSubmatch(string(help), -1)
	if len(flags) < 5 {
		t.Fatalf("bwmon -h lists %d flags:\n%s", len(flags), help)
	}
	for _, m := range flags {
		if esc := strings.ReplaceAll(m[1], "-", `\-`); !strings.Contains(string(man), esc) {
			t.Errorf("the man page does not name %s", m[1])
		}
	}

	copyright, err := os.ReadFile(filepath.Join(root, "usr/share/doc/bwmon/copyright"))
	if err != nil {
		t.Fatal(err)
	}
	info := run(t, "", nil, "go", "version", "-m", bin)
	deps := regexp.MustCompile(`(?m)^\s+dep\s+(\S+)\s+(\S+)`).FindAllStringSubmatch(info, -1)
	if len(deps) < 5 {
		t.Fatalf("go version -m lists %d modules:\n%s", len(deps), info)
	}
	for _, d := range deps {
		if !strings.Contains(string(copyright), "\nFiles: "+d[1]+"@"+d[2]+"/*\n") {
			t.Errorf("the copyright file has no paragraph for %s %s", d[1], d[2])
		}
	}
}

// checkPurge installs p, gives it state as systemd would, then removes
// it (the configuration and the state stay) and purges it (nothing of it
// stays).
func checkPurge(t *testing.T, p pkg) {
	root := scratchRoot(t)
	fake, startLog := startOnly(t), filepath.Join(t.TempDir(), "log")
	if out, err := dpkgIn(t, root, fake, startLog, "--install", p.path); err != nil {
		t.Fatalf("dpkg --install: %v\n%s", err, out)
	}
	// What StateDirectory= makes under DynamicUser=yes, and a database.
	state := filepath.Join(root, "var/lib/private/bwmon")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("private/bwmon", filepath.Join(root, "var/lib/bwmon")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "bwmon.db"), []byte("totals"), 0o600); err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool {
		_, err := os.Lstat(filepath.Join(root, p))
		return err == nil
	}
	wants := "etc/systemd/system/multi-user.target.wants/bwmon.service"

	if out, err := dpkgIn(t, root, fake, startLog, "--remove", "bwmon"); err != nil {
		t.Fatalf("dpkg --remove: %v\n%s", err, out)
	}
	for p, want := range map[string]bool{
		"usr/bin/bwmon": false, "lib/systemd/system/bwmon.service": false,
		"usr/lib/systemd/system/bwmon.service": false,
		"etc/bwmon/config.toml":                true, "var/lib/bwmon": true, "var/lib/private/bwmon/bwmon.db": true,
	} {
		if exists(p) != want {
			t.Errorf("after dpkg --remove, /%s exists: %v, want %v", p, exists(p), want)
		}
	}

	if out, err := dpkgIn(t, root, fake, startLog, "--purge", "bwmon"); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
	for _, p := range []string{"etc/bwmon", "var/lib/bwmon", "var/lib/private/bwmon", wants,
		"var/lib/systemd/deb-systemd-helper-enabled/bwmon.service.dsh-also",
		"var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/bwmon.service"} {
		if exists(p) {
			t.Errorf("after dpkg --purge, /%s is still there", p)
		}
	}
	if !exists("var/lib/private") {
		t.Error("the purge removed /var/lib/private itself")
	}
	status, _ := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"),
		"-W", "-f", "${Status}", "bwmon").CombinedOutput()
	if s := string(status); s != "" && !strings.Contains(s, "not-installed") && !strings.Contains(s, "no packages found") {
		t.Errorf("after the purge, dpkg says %q", s)
	}
	// prerm ran with remove: in the scratch root it must not stop the
	// host's service.
	checkFile(t, startLog, nil)
}
