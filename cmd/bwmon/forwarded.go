package main

import (
	"fmt"
	"io"

	"github.com/bwmon/bwmon/model"
)

// maxForwardedLines is how many pairs of hosts the console table shows one
// by one; the rest are summed on one line. A NAT gateway lists up to about
// a thousand (aggregator.DefaultForwardedPairs), busiest first.
const maxForwardedLines = 20

// writeForwarded adds the forwarded section to the console table: a line
// per pair of hosts, busiest first, and nothing when the host forwarded
// nothing.
func writeForwarded(w io.Writer, f model.Forwarded) {
	line := func(rin, rout float64, in, out uint64, what string) {
		fmt.Fprintf(w, "%12s %12s %12s %12s  %s\n",
			rate(rin), rate(rout), model.FormatBytes(float64(in)), model.FormatBytes(float64(out)), what)
	}
	hosts := f.Hosts
	if len(hosts) > maxForwardedLines {
		hosts = hosts[:maxForwardedLines]
	}
	rest := f
	for _, h := range hosts {
		line(h.RateIn, h.RateOut, h.BytesIn, h.BytesOut, cut(h.Inside+" ⇄ "+h.Remote)+" (forwarded)")
		rest.RateIn -= h.RateIn
		rest.RateOut -= h.RateOut
		rest.BytesIn -= min(rest.BytesIn, h.BytesIn)
		rest.BytesOut -= min(rest.BytesOut, h.BytesOut)
	}
	if n := len(f.Hosts) - len(hosts); n > 0 {
		line(max(rest.RateIn, 0), max(rest.RateOut, 0), rest.BytesIn, rest.BytesOut, fmt.Sprintf("(%d more pairs forwarded)", n))
	}
}
