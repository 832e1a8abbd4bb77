package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bwmon/bwmon/model"
)

// TestBrowserToken: with a token, the page asks for it, refuses a wrong
// one, and with the right one gets the table and the WebSocket (the token
// travelling as a subprotocol, which Chromium must accept back as "bwmon").
// A server in the test process feeds it; no root needed.
func TestBrowserToken(t *testing.T) {
	chrome := chromium(t)
	const token = "correct-horse/battery+staple"
	s, ts := newTestServer(t, Options{Token: token})
	feed(t, s, func(now time.Time) *model.Snapshot {
		return snap(now, map[string][2]float64{"<b>curl</b>": {1000, 50}})
	})

	b := newBrowser(t, chrome)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(ts.URL), chromedp.WaitVisible(chromedp.CSS("#token-form"))); err != nil {
		t.Fatalf("the page shows no token form: %v", err)
	}
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS("#token"), "wrong"), chromedp.Click(chromedp.CSS("#token-form button"))); err != nil {
		t.Fatal(err)
	}
	b.waitJS(10*time.Second, "the refusal", `document.getElementById('token-error').textContent.includes('refused')`)
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#token-form button"))); err != nil {
		t.Fatal(err)
	}
	// The name is shown as text, not markup.
	b.waitJS(10*time.Second, "the app in the table",
		`[...document.querySelectorAll('#rows td.app .name')].some(e => e.textContent === '<b>curl</b>') && !document.querySelector('#rows b')`)
	b.waitJS(10*time.Second, "the live status", `document.getElementById('status').classList.contains('live')`)
	eventually(t, 5*time.Second, "the page's WebSocket", func() bool { return s.Clients() == 1 })
	var stored string
	b.eval(`sessionStorage.getItem('bwmon.token')`, &stored)
	if stored != token {
		t.Fatalf("sessionStorage holds %q, want the token", stored)
	}
	if p := b.problems(); len(p) > 0 {
		t.Errorf("the page logged errors: %s", strings.Join(p, "\n"))
	}
	shot(t, b.ctx, "token.png")
}
