package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// formatRate formats a rate in bytes per second to three significant
// digits: binary units for bytes ("11.9 MiB/s", as the plain table), decimal
// ones for bits ("95.2 Mbit/s", as network links are rated). At most 11
// columns wide.
func formatRate(bps float64, bits bool) string {
	if bits {
		return scaled(bps*8, 1000, []string{"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s", "Pbit/s", "Ebit/s"})
	}
	return scaled(bps, 1024, []string{"B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s", "PiB/s", "EiB/s"})
}

// formatBytes formats a byte count in binary units to three significant
// digits: "512 B", "98.0 MiB". At most 9 columns wide.
func formatBytes(n float64) string {
	return scaled(n, 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"})
}

// scaled divides v by base until it is below base (or the units run out)
// and prints it with its unit: whole numbers in the first unit, three
// significant digits in the others.
func scaled(v, base float64, units []string) string {
	if math.IsNaN(v) || v < 0 {
		v = 0
	}
	i := 0
	for v >= base && i < len(units)-1 {
		v /= base
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + " " + units[0]
	}
	// Rounding may carry to the next digit: 9.996 is "10.0", 99.96 "100".
	switch {
	case v < 9.995:
		return fmt.Sprintf("%.2f %s", v, units[i])
	case v < 99.95:
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// width is how many terminal columns s takes.
func width(s string) int { return ansi.StringWidth(s) }

// clip makes a name fit w columns: safename.Clean (names arrive clean, and
// then it costs nothing: this is defence in depth, for no control, bidi or
// invalid byte ever reaches the terminal), safename.Display to w runes, and
// then, for wide characters, cut to w columns. It ends in "…" when cut.
func clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = safename.Display(safename.Clean(s), w)
	if width(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return s
}

// left is s clipped and padded with spaces to w columns.
func left(s string, w int) string {
	s = clip(s, w)
	return s + strings.Repeat(" ", max(0, w-width(s)))
}

// right is s clipped and right-aligned in w columns.
func right(s string, w int) string {
	s = clip(s, w)
	return strings.Repeat(" ", max(0, w-width(s))) + s
}

// userLabel names a process's user: the name, else the UID, else "?".
func userLabel(u model.UserRef) string {
	if u.Name == "" && u.UID < 0 {
		return "?"
	}
	return u.Label()
}

// where says where a process runs: its container, else its systemd unit,
// else its network namespace, else "-".
func where(p model.ProcessUsage) string {
	switch {
	case p.Container != "":
		return p.Container
	case p.Unit != "":
		return p.Unit
	case p.NetNS != "":
		return p.NetNS
	}
	return "-"
}

// appUsers lists an app's users, comma-separated.
func appUsers(a model.AppUsage) string {
	names := make([]string, len(a.Users))
	for i, u := range a.Users {
		names[i] = u.Label()
	}
	return strings.Join(names, ",")
}

// appWhere lists where an app's processes run: its containers, else its
// units, else its network namespaces.
func appWhere(a model.AppUsage) string {
	var names []string
	switch {
	case len(a.Containers) > 0:
		for _, c := range a.Containers {
			names = append(names, c.Label())
		}
	case len(a.Units) > 0:
		names = a.Units
	default:
		names = a.NetNS
	}
	return strings.Join(names, ",")
}
