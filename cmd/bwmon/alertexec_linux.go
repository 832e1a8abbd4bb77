package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/notify"
)

// alertExecCommand is the hidden subcommand the notifier runs each alert
// command through: `bwmon __alert-exec [-user NAME -uid N -gid N -groups
// N,N -home DIR] -- PROGRAM ARG...`. It lowers its own privileges, then
// executes PROGRAM in its own place: the same process, so the notifier's
// environment (BWMON_*), standard input (the JSON), captured output,
// process group and timeout all apply to the command as before.
const alertExecCommand = "__alert-exec"

// alertExecLauncher returns what the notifier puts before each alert
// command's argv: this executable's __alert-exec subcommand for ru.
func alertExecLauncher(ru notify.User) ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding bwmon's own executable, which runs the alert commands: %w", err)
	}
	return alertExecArgs(exe, ru), nil
}

// alertExecArgs is the launcher for the executable exe.
func alertExecArgs(exe string, ru notify.User) []string {
	a := []string{exe, alertExecCommand}
	if ru.Switch {
		groups := make([]string, len(ru.Groups))
		for i, g := range ru.Groups {
			groups[i] = strconv.Itoa(g)
		}
		a = append(a, "-user", ru.Name, "-uid", strconv.Itoa(ru.UID), "-gid", strconv.Itoa(ru.GID),
			"-groups", strings.Join(groups, ","), "-home", ru.Home)
	}
	return append(a, "--")
}

// parseAlertExec reads the subcommand's arguments back: who to become, and
// the command.
func parseAlertExec(args []string) (notify.User, []string, error) {
	fs := flag.NewFlagSet(alertExecCommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var ru notify.User
	var groups string
	fs.StringVar(&ru.Name, "user", "", "user `name` (for HOME, USER and LOGNAME)")
	fs.IntVar(&ru.UID, "uid", -1, "user id to switch to")
	fs.IntVar(&ru.GID, "gid", -1, "group id to switch to")
	fs.StringVar(&groups, "groups", "", "supplementary group ids, comma-separated")
	fs.StringVar(&ru.Home, "home", "", "home directory")
	if err := fs.Parse(args); err != nil {
		return ru, nil, err
	}
	argv := fs.Args()
	if len(argv) == 0 || argv[0] == "" {
		return ru, nil, errors.New("no command to run: want -- PROGRAM [ARG...]")
	}
	if ru.UID >= 0 || ru.GID >= 0 {
		if ru.UID < 0 || ru.GID < 0 {
			return ru, nil, errors.New("-uid and -gid go together")
		}
		ru.Switch = true
		for g := range strings.SplitSeq(groups, ",") {
			if g == "" {
				continue
			}
			id, err := strconv.Atoi(g)
			if err != nil || id < 0 {
				return ru, nil, fmt.Errorf("bad group id %q in -groups", g)
			}
			ru.Groups = append(ru.Groups, id)
		}
	}
	return ru, argv, nil
}

// runAlertExec is `bwmon __alert-exec`: it lowers the privileges of this
// process and executes the command in its place. It returns only on
// failure, with the exit status (126: privileges or exec, 127: program not
// found), having said why on stderr, which the notifier logs.
func runAlertExec(args []string, stderr io.Writer) int {
	ru, argv, err := parseAlertExec(args)
	if err != nil {
		fmt.Fprintf(stderr, "bwmon %s: %v\n", alertExecCommand, err)
		return 2
	}
	// Capabilities, no_new_privs and the nice value belong to the thread
	// (setuid and setgroups Go applies to all): lower them on the thread
	// that calls execve.
	runtime.LockOSThread()
	if err := lowerPrivileges(ru); err != nil {
		fmt.Fprintf(stderr, "bwmon %s: %v: the command did not run\n", alertExecCommand, err)
		return 126
	}
	// Looked up as the command's user, with the agent's PATH.
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(stderr, "bwmon %s: %v\n", alertExecCommand, err)
		return 127
	}
	env := os.Environ()
	if ru.Switch {
		env = append(env, "HOME="+ru.Home, "USER="+ru.Name, "LOGNAME="+ru.Name)
	}
	// execve keeps the thread's signal mask, and the Go runtime blocks
	// signals on a thread for a moment now and then (seen: a command that
	// started with signals blocked, once in a few hundred runs): the
	// command starts with none blocked, as from a shell.
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &unix.Sigset_t{}, nil)
	err = syscall.Exec(path, argv, env)
	fmt.Fprintf(stderr, "bwmon %s: running %s: %v\n", alertExecCommand, argv[0], err)
	return 126
}

// lowerPrivileges takes from the calling thread what an alert command must
// not have: the ambient and inheritable capabilities (so that execve grants
// none to a command that is not root), the right to gain privileges
// (no_new_privs: setuid programs and file capabilities do nothing), the
// agent's raised priority (nice 0 again), and, with ru.Switch, the
// agent's user and groups (setgroups, setgid, setuid, each checked). It
// stops at the first step that fails.
func lowerPrivileges(ru notify.User) error {
	// EINVAL: a kernel before 4.3 has no ambient capabilities to clear.
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clearing the ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("reading the capabilities: %w", err)
	}
	caps[0].Inheritable, caps[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("clearing the inheritable capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	// who 0: the calling thread, whose nice value execve keeps.
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 0); err != nil {
		return fmt.Errorf("resetting the priority to nice 0: %w", err)
	}
	if !ru.Switch {
		return nil
	}
	groups := ru.Groups
	if len(groups) == 0 {
		groups = []int{ru.GID}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setting the groups of user %s to %v: %w", ru.Name, groups, err)
	}
	if err := syscall.Setgid(ru.GID); err != nil {
		return fmt.Errorf("switching to group %d of user %s: %w", ru.GID, ru.Name, err)
	}
	if err := syscall.Setuid(ru.UID); err != nil {
		return fmt.Errorf("switching to user %s (uid %d): %w", ru.Name, ru.UID, err)
	}
	if syscall.Getuid() != ru.UID || syscall.Geteuid() != ru.UID || syscall.Getgid() != ru.GID || syscall.Getegid() != ru.GID {
		return fmt.Errorf("switching to user %s: still uid %d/%d, gid %d/%d", ru.Name, syscall.Getuid(), syscall.Geteuid(), syscall.Getgid(), syscall.Getegid())
	}
	if ru.UID != 0 && syscall.Setuid(0) == nil {
		return fmt.Errorf("switching to user %s: root could be regained", ru.Name)
	}
	return nil
}
