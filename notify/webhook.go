package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/bwmon/bwmon/internal/redact"
)

// newHTTPClient returns the notifier's own client, whose idle connections
// Close can release. It follows no redirect: a webhook that answers 3xx is
// misconfigured, and a POST is not silently turned into a GET.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// postWebhook POSTs the event as JSON to the rule's webhook. A network
// error, a timeout, a 5xx, 408 or 429 answer is retried after
// WebhookBackoff, doubling each time, up to WebhookAttempts tries; another
// answer outside 2xx fails at once.
func (n *Notifier) postWebhook(ctx context.Context, d delivery) error {
	u := n.rules[d.rule].Webhook
	body := d.ev.JSON()
	wait := n.opts.WebhookBackoff
	for attempt := 1; ; attempt++ {
		retry, err := n.post(ctx, u, body)
		if err == nil {
			n.log.Debug("webhook delivered", "webhook", redact.URL(u), "app", logName(d.ev.App), "state", d.ev.State, "attempt", attempt)
			return nil
		}
		if !retry || attempt == n.opts.WebhookAttempts {
			return fmt.Errorf("posting to webhook %s (attempt %d of %d): %w", redact.URL(u), attempt, n.opts.WebhookAttempts, err)
		}
		n.log.Debug("webhook attempt failed, retrying", "webhook", redact.URL(u), "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("posting to webhook %s: %w; stopped at shutdown before attempt %d", redact.URL(u), err, attempt+1)
		case <-t.C:
		}
		wait *= 2
	}
}

// post makes one attempt and says whether a failure is worth retrying.
func (n *Notifier) post(ctx context.Context, u string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.opts.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bwmon")
	resp, err := n.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return true, fmt.Errorf("no answer within %s", n.opts.WebhookTimeout)
		}
		// The url.Error's text repeats the URL, whose path may hold a
		// token: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return false, nil
	case c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout:
		return true, fmt.Errorf("answer %q", resp.Status)
	default:
		return false, fmt.Errorf("answer %q, not retried", resp.Status)
	}
}
