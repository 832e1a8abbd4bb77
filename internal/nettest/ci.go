package nettest

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// InCI reports whether the tests run in CI: CI=true (or another value
// strconv.ParseBool reads as true), as CI systems set it. There the tests
// run as root on a machine .ci/run has installed every tool they use on,
// so a test that cannot run has found a broken CI, not a poor machine.
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Missing stops tb because what it needs is missing here: the message says
// what and how to get it. Outside CI the test is skipped; in CI it fails,
// since a CI run that skips a test has tested nothing.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("%s (CI=true: CI runs as root with every tool installed, so a test that cannot run fails)", msg)
		return
	}
	tb.Skip(msg)
}
