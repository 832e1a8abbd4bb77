package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// jsonOutput writes each Snapshot as one JSON object per line.
type jsonOutput struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONOutput(w io.Writer) *jsonOutput {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // a name of <>& stays as long as it is
	return &jsonOutput{enc: enc}
}

func (o *jsonOutput) Consume(s *model.Snapshot) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(s)
}

// tableOutput prints the table each tick, for a pipe or a file (on a
// terminal, the agent shows internal/tui instead): rate in, rate out, total
// in, total out in binary units, busiest app first, then the apps folded
// into model.OtherApp, then the unattributed bucket, then the pairs of
// hosts the host forwarded. Names are shown clean and cut to maxAppWidth
// runes (see cut). It writes no escape code.
type tableOutput struct {
	w io.Writer
}

func (o *tableOutput) Consume(s *model.Snapshot) {
	var b strings.Builder
	writeTable(&b, s)
	bw := bufio.NewWriter(o.w)
	bw.WriteString(b.String())
	bw.Flush()
}

// maxAppWidth is the width of the app column, in runes; longer names end
// in "…".
const maxAppWidth = 60

// writeTable renders a Snapshot as the console table.
func writeTable(w io.Writer, s *model.Snapshot) {
	fmt.Fprintf(w, "bwmon  %s  interval %.2fs  IP-layer bytes (pipes: payload)", s.Time.Format("2006-01-02 15:04:05"), s.IntervalS)
	if len(s.Interfaces) > 0 { // how much of the interfaces' traffic the table explains
		fmt.Fprintf(w, "  coverage 15m %s", s.Coverage.Last15m)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%12s %12s %12s %12s  %s\n", "RATE IN", "RATE OUT", "TOTAL IN", "TOTAL OUT", "APP")
	for _, a := range s.Apps {
		name := cut(a.App)
		if a.App == model.OtherApp {
			name = model.OtherLabel(a.Folded)
		}
		fmt.Fprintf(w, "%12s %12s %12s %12s  %s\n",
			rate(a.RateIn), rate(a.RateOut), model.FormatBytes(float64(a.BytesIn)), model.FormatBytes(float64(a.BytesOut)), name)
	}
	u := s.Unattributed
	if u.BytesIn+u.BytesOut > 0 {
		fmt.Fprintf(w, "%12s %12s %12s %12s  %s\n",
			rate(u.RateIn), rate(u.RateOut), model.FormatBytes(float64(u.BytesIn)), model.FormatBytes(float64(u.BytesOut)), "(unattributed: "+reasons(u)+")")
	}
	writeForwarded(w, s.Forwarded)
}

func rate(bps float64) string { return model.FormatBytes(bps) + "/s" }

// cut makes a name fit the app column: safename.Clean (a name from the
// aggregator is clean already, and costs nothing then; this is defence in
// depth, for no control, bidi or invalid byte ever reaches the terminal),
// then cut to maxAppWidth runes.
func cut(s string) string {
	return safename.Display(safename.Clean(s), maxAppWidth)
}

func reasons(u model.Unattributed) string {
	var parts []string
	for _, r := range model.Reasons {
		if sum, ok := u.Reasons[r]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", r, model.FormatBytes(float64(sum.BytesIn+sum.BytesOut))))
		}
	}
	return strings.Join(parts, ", ")
}
