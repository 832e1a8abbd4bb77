package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/bwmon/bwmon/model"
)

// jsonOutput writes each Snapshot as one JSON object per line.
type jsonOutput struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONOutput(w io.Writer) *jsonOutput { return &jsonOutput{enc: json.NewEncoder(w)} }

func (o *jsonOutput) Consume(s *model.Snapshot) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(s)
}

// tableOutput redraws the live table each tick: rate in, rate out, total
// in, total out in binary units, busiest app first, then the unattributed
// bucket, then the pairs of hosts the host forwarded. On a terminal it clears the screen first.
type tableOutput struct {
	w        io.Writer
	terminal bool
}

func (o *tableOutput) Consume(s *model.Snapshot) {
	var b strings.Builder
	if o.terminal {
		b.WriteString("\x1b[H\x1b[2J")
	}
	writeTable(&b, s)
	bw := bufio.NewWriter(o.w)
	bw.WriteString(b.String())
	bw.Flush()
}

const maxAppWidth = 60

// writeTable renders a Snapshot as the console table.
func writeTable(w io.Writer, s *model.Snapshot) {
	fmt.Fprintf(w, "bwmon  %s  interval %.2fs  IP-layer bytes (pipes: payload)\n", s.Time.Format("2006-01-02 15:04:05"), s.IntervalS)
	fmt.Fprintf(w, "%12s %12s %12s %12s  %s\n", "RATE IN", "RATE OUT", "TOTAL IN", "TOTAL OUT", "APP")
	for _, a := range s.Apps {
		fmt.Fprintf(w, "%12s %12s %12s %12s  %s\n",
			rate(a.RateIn), rate(a.RateOut), model.FormatBytes(float64(a.BytesIn)), model.FormatBytes(float64(a.BytesOut)), cut(a.App))
	}
	u := s.Unattributed
	if u.BytesIn+u.BytesOut > 0 {
		fmt.Fprintf(w, "%12s %12s %12s %12s  %s\n",
			rate(u.RateIn), rate(u.RateOut), model.FormatBytes(float64(u.BytesIn)), model.FormatBytes(float64(u.BytesOut)), "(unattributed: "+reasons(u)+")")
	}
	writeForwarded(w, s.Forwarded)
}

func rate(bps float64) string { return model.FormatBytes(bps) + "/s" }

func cut(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?' // a command line must not steer the terminal
		}
		return r
	}, s)
	if len([]rune(s)) > maxAppWidth {
		return string([]rune(s)[:maxAppWidth-3]) + "..."
	}
	return s
}

func reasons(u model.Unattributed) string {
	var parts []string
	for _, r := range []model.Reason{model.ReasonNoSocket, model.ReasonNoProcess, model.ReasonProcessGone, model.ReasonNotLocal, model.ReasonKernel, model.ReasonEventsLost, model.ReasonUnreadableNamespace} {
		if sum, ok := u.Reasons[r]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", r, model.FormatBytes(float64(sum.BytesIn+sum.BytesOut))))
		}
	}
	return strings.Join(parts, ", ")
}
