package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"
)

// maxOutput is how much of a command's output is kept for the log.
const maxOutput = 2048

// runCommand runs the rule's command for one event: its argv exactly as
// configured, the event in its environment (BWMON_*) and as JSON on its
// standard input. The app name, which any local user can choose through a
// command line, reaches the command only there: never through a shell,
// never as an argument. With a Launcher, the launcher runs first and
// replaces itself with the command, in the same process. A command still
// running after CommandTimeout is killed with its process group and reaped.
func (n *Notifier) runCommand(ctx context.Context, d delivery) error {
	r := &n.rules[d.rule]
	ctx, cancel := context.WithTimeout(ctx, r.CommandTimeout)
	defer cancel()
	argv := r.Command
	if len(n.launcher) > 0 {
		argv = append(slices.Clip(n.launcher), r.Command...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// Later entries win: the event's variables override inherited ones.
	cmd.Env = append(os.Environ(), d.ev.Env()...)
	cmd.Stdin = bytes.NewReader(d.ev.JSON())
	out := &headBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// A child of the command that keeps its output open must not hold
	// Wait past the kill.
	cmd.WaitDelay = time.Second
	ownProcessGroup(cmd)

	began := time.Now()
	err := cmd.Run()
	switch {
	case err == nil:
		n.log.Debug("command ran", "app", logName(d.ev.App), "state", d.ev.State, "user", n.user,
			"took", time.Since(began).Round(time.Millisecond))
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s did not finish within command_timeout %s: killed%s", r.Command[0], r.CommandTimeout, out)
	case n.ctx.Err() != nil:
		return fmt.Errorf("%s still running at shutdown: killed%s", r.Command[0], out)
	}
	return fmt.Errorf("running %s: %w%s", r.Command[0], err, out)
}

// headBuffer keeps the first max bytes written to it. It is a pointer type,
// so exec hands stdout and stderr one pipe and never writes concurrently.
type headBuffer struct {
	b    []byte
	max  int
	more bool
}

func (h *headBuffer) Write(p []byte) (int, error) {
	room := min(h.max-len(h.b), len(p))
	h.b = append(h.b, p[:room]...)
	if room < len(p) {
		h.more = true
	}
	return len(p), nil
}

// String formats the output for an error message: "" when there was none.
func (h *headBuffer) String() string {
	if len(h.b) == 0 {
		return ""
	}
	s := fmt.Sprintf("; output: %q", bytes.TrimSpace(h.b))
	if h.more {
		s += " (cut)"
	}
	return s
}
