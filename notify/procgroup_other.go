//go:build !unix

package notify

import "os/exec"

// ownProcessGroup leaves cmd as it is: without process groups, cancelling
// kills the command's own process only.
func ownProcessGroup(cmd *exec.Cmd) {}
