package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium. Outside CI a machine without it skips
// the browser test; in CI that is a failure, since .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	nettest.Missing(t, "chromium not found: apt-get install chromium to run the browser test")
	return ""
}

// browser is a headless Chromium with a fresh profile, closed at cleanup.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu   sync.Mutex
	errs []string // exceptions and refusals (CSP) the page logged
}

func newBrowser(t *testing.T, chrome string) *browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun, chromedp.Flag("disable-sync", true), chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1100))
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Start it here, and stop at a failure: a second start on the same
	// context (the next action's) would make chromedp panic.
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		cancel()
		t.Fatalf("starting chromium: %v", err)
	}
	b := &browser{t: t, ctx: bctx}
	console := chromedp.Console(bctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || strings.Contains(m.Text, "Refused to") {
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Sprintf("%s: %s", m.Type, m.Text))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelBrowser()
		<-done
		cancelAlloc()
		cancel()
	})
	return b
}

func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errs)
}

// eval evaluates js in the page and decodes its value into v.
func (b *browser) eval(js string, v any) {
	b.t.Helper()
	res, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]byte](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	if err := json.Unmarshal(res, v); err != nil {
		b.t.Fatalf("decoding %s: %v", res, err)
	}
}

// waitJS polls js until it is true.
func (b *browser) waitJS(d time.Duration, what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		b.eval(js, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("after %s: still waiting for %s (%s)", d, what, js)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shot saves a PNG of the page under testdata/screenshots.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
