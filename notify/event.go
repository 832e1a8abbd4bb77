package notify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// Direction is which way the bytes went, from the local process's side.
type Direction string

// The two directions.
const (
	In  Direction = "in"
	Out Direction = "out"
)

// State says whether an event opens or closes an alert.
type State string

// The two states of an event.
const (
	// Firing: the moving average is over the threshold.
	Firing State = "firing"
	// Resolved: the average of a firing alert fell below ResolveFraction
	// of the threshold.
	Resolved State = "resolved"
)

// Event is one alert, as a command reads it on its standard input (one
// JSON object) and in its environment, and as a webhook receives it.
type Event struct {
	// Time is the end of the tick that raised the event, to the second.
	Time time.Time `json:"time"`
	// App is the app's name as bwmon groups it: taken from a command
	// line, so anything a local user chose. Treat it as data. It is
	// safename.Clean'd: valid UTF-8, controls and direction overrides
	// written as visible escapes, at most safename.MaxLen bytes.
	App string `json:"app"`
	// Class is the destination class the rule watches ("internet"):
	// the rate is of the app's bytes with remote ends of that class.
	// Absent for a rule without class, which watches all its bytes.
	Class     string    `json:"class,omitempty"`
	Direction Direction `json:"direction"`
	State     State     `json:"state"`
	// Rate is the moving average over Window ticks, in bytes per second,
	// rounded to a whole byte.
	Rate float64 `json:"rate"`
	// Threshold is the rule's limit in bytes per second.
	Threshold float64 `json:"threshold"`
	// Window is the number of ticks in the average.
	Window int `json:"window"`
}

// JSON returns the event as one line of JSON, its app name
// safename.Clean'd.
func (e Event) JSON() []byte {
	e.App = safename.Clean(e.App)
	b, err := json.Marshal(e)
	if err != nil {
		// Only strings, numbers and a time: cannot fail short of a
		// time outside years 0-9999.
		b = []byte(`{"error":` + strconv.Quote(err.Error()) + `}`)
	}
	return append(b, '\n')
}

// Env returns the event as BWMON_* environment variables, rates in bytes
// per second. The app name is safename.Clean'd: it holds no NUL, which no
// environment can carry, and stays far below the kernel's limit on one
// variable (128 KiB). BWMON_CLASS is set for a rule with a class.
func (e Event) Env() []string {
	env := []string{
		"BWMON_APP=" + safename.Clean(e.App),
		"BWMON_DIRECTION=" + string(e.Direction),
		"BWMON_RATE=" + formatNumber(e.Rate),
		"BWMON_THRESHOLD=" + formatNumber(e.Threshold),
		"BWMON_WINDOW=" + strconv.Itoa(e.Window),
		"BWMON_STATE=" + string(e.State),
		"BWMON_TIME=" + e.Time.Format(time.RFC3339),
	}
	if e.Class != "" {
		env = append(env, "BWMON_CLASS="+e.Class)
	}
	return env
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// maxLineApp is where the alert line and the log cut an app name (the
// environment and the JSON carry it up to safename.MaxLen bytes).
const maxLineApp = 60

// Line returns the alert line written to stderr, as the original bwmon wrote
// it, e.g.
//
//	2026-11-22 10:00:01: backup exceeding 'out' bandwidth limit 10.00 MB/s: 12.40 MB/s (124.0 %)
//	2026-11-22 10:00:09: backup back under 'out' bandwidth limit 10.00 MB/s: 8.10 MB/s (81.0 %)
//
// The app name goes through safename.Clean (controls, escape sequences,
// invalid UTF-8 and direction overrides become visible escapes such as
// \x1b or \u202e), so that a command line cannot forge lines or steer a
// terminal, and is cut to 60 characters with safename.Display.
func (e Event) Line() string {
	verb := "exceeding"
	if e.State == Resolved {
		verb = "back under"
	}
	pct := 0.0
	if e.Threshold > 0 {
		pct = e.Rate / e.Threshold * 100
	}
	dir := string(e.Direction)
	if e.Class != "" {
		dir += " " + e.Class
	}
	return fmt.Sprintf("%s: %s %s '%s' bandwidth limit %s: %s (%.1f %%)\n",
		e.Time.Format("2006-01-02 15:04:05"), logName(e.App), verb, dir,
		model.FormatRate(e.Threshold), model.FormatRate(e.Rate), pct)
}
