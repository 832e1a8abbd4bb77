//go:build !linux

package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/bwmon/bwmon/notify"
)

// alertExecCommand is the hidden subcommand the notifier runs each alert
// command through on Linux (alertexec_linux.go).
const alertExecCommand = "__alert-exec"

// errAlertExecNotSupported: lowering an alert command's privileges is
// implemented for Linux only.
var errAlertExecNotSupported = errors.New("running alert commands with lowered privileges not supported")

// alertExecLauncher returns no launcher outside Linux: the commands would
// run with the agent's privileges, and bwmon refuses that.
func alertExecLauncher(notify.User) ([]string, error) {
	return nil, fmt.Errorf("%w on %s", errAlertExecNotSupported, runtime.GOOS)
}

// runAlertExec fails outside Linux.
func runAlertExec(_ []string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "bwmon %s: %v on %s\n", alertExecCommand, errAlertExecNotSupported, runtime.GOOS)
	return 126
}
