package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/bwmon/bwmon/internal/redact"
)

// newLogger returns the agent's structured logger: key=value text (format
// "text", for a terminal or the journal) or one JSON object per line
// ("json", for log collectors), at level ("debug", "info", "warn",
// "error") and above. No record it writes shows a URL's userinfo, path or
// query (redactHandler).
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad -log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(redactHandler{slog.NewTextHandler(w, opts)}), nil
	case "json":
		return slog.New(redactHandler{slog.NewJSONHandler(w, opts)}), nil
	default:
		return nil, fmt.Errorf("bad -log-format %q: want text or json", format)
	}
}

// redactHandler rewrites every URL in a record (its message, and string,
// error and other values, in groups too) with redact.URLs before next sees
// it: a webhook's credentials or a token in a query stay out of the
// journal, whichever part logs them.
type redactHandler struct{ next slog.Handler }

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, redact.URLs(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	rs := make([]slog.Attr, len(as))
	for i, a := range as {
		rs[i] = redactAttr(a)
	}
	return redactHandler{h.next.WithAttrs(rs)}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, redact.URLs(v.String()))
	case slog.KindGroup:
		g := v.Group()
		rs := make([]slog.Attr, len(g))
		for i, ga := range g {
			rs[i] = redactAttr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(rs...)}
	case slog.KindAny:
		// An error, a Stringer or any other value, as the handler would
		// print it (fmt recovers a panicking Error or String method).
		s := fmt.Sprint(v.Any())
		if strings.Contains(s, "://") {
			return slog.String(a.Key, redact.URLs(s))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
