package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/bwmon/bwmon/model"
)

// Options configure Run.
type Options struct {
	// Title names the UI at the head of the header ("bwmon").
	Title string
	// Source, when set, says in the header where the ticks come from
	// ("agent http://127.0.0.1:8000/").
	Source string
	// Processes returns an app's live processes, busiest first: the
	// aggregator's Processes, or GET /api/v1/processes of an agent. Nil
	// when there is no way to list them: enter then does nothing.
	Processes func(ctx context.Context, app string) ([]model.ProcessUsage, error)
	// Log, when set, is where the agent logs: its lines show in the log
	// area while the UI is on screen, and are written to stderr after.
	Log *LogSink
	// Input and Output are the terminal; nil means stdin (or /dev/tty
	// when stdin is not a terminal) and stdout.
	Input  io.Reader
	Output io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// processesTimeout bounds one request for an app's processes.
const processesTimeout = 5 * time.Second

// logKept is how many of the latest log lines the model is given: more
// than the largest log area holds.
const logKept = 200

// Run shows what feed holds on the terminal's alternate screen until q or
// ctrl+c is pressed, ctx is done, or the terminal goes away (its input
// fails), which are all a clean end (nil). It restores the terminal,
// writes to stderr what was logged to opts.Log meanwhile, and returns after
// every goroutine it started has exited.
func Run(ctx context.Context, feed *Feed, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	fetch := make(chan string, 1)
	var request func(string)
	if opts.Processes != nil {
		request = func(app string) {
			// The latest request wins over one not taken yet.
			select {
			case <-fetch:
			default:
			}
			select {
			case fetch <- app:
			default:
			}
		}
	}
	m := newModel(modelOptions{title: opts.Title, source: opts.Source, request: request,
		renderer: lipgloss.NewRenderer(out), now: now()})
	// 20 frames a second at most: keys answer within 50 ms, and an idle
	// screen costs little.
	popts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithoutSignalHandler(), tea.WithOutput(out), tea.WithFPS(20)}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	p := tea.NewProgram(m, popts...)
	if opts.Log != nil {
		opts.Log.hold(feed.logged)
		defer opts.Log.release()
		feed.logged() // what was logged before shows at once
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		feedLoop(ctx, p, feed, opts.Log, now)
	}()
	go func() {
		defer wg.Done()
		fetchLoop(ctx, p, fetch, opts.Processes)
	}()
	_, err := p.Run()
	cancel()
	wg.Wait()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EIO), errors.Is(err, io.EOF):
		return nil // the terminal is gone (closed): as q
	}
	return fmt.Errorf("running the terminal UI: %w (for the plain table, send the output to a pipe or a file)", err)
}

// feedLoop hands p what feed receives, and the clock each second, until
// ctx is done; then it asks p to quit.
func feedLoop(ctx context.Context, p *tea.Program, feed *Feed, log *LogSink, now func() time.Time) {
	clock := time.NewTicker(time.Second)
	defer clock.Stop()
	for {
		select {
		case <-ctx.Done():
			p.Quit()
			return
		case <-feed.wake:
			u := feed.take()
			if u.status != nil {
				p.Send(statusMsg(*u.status))
			}
			if u.snap != nil {
				p.Send(snapshotMsg{s: u.snap, at: now()})
			}
			if u.log && log != nil {
				p.Send(logMsg(log.Lines(logKept)))
			}
		case <-clock.C:
			p.Send(clockMsg(now()))
		}
	}
}

// fetchLoop lists the processes of each app asked for, one at a time,
// until ctx is done.
func fetchLoop(ctx context.Context, p *tea.Program, fetch <-chan string,
	processes func(context.Context, string) ([]model.ProcessUsage, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case app := <-fetch:
			fctx, cancel := context.WithTimeout(ctx, processesTimeout)
			ps, err := processes(fctx, app)
			cancel()
			p.Send(processesMsg{app: app, procs: ps, err: err})
		}
	}
}
