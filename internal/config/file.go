package config

import (
	"fmt"
	"time"

	"github.com/bwmon/bwmon/model"
)

// fileConfig is the TOML file as written; config.example.toml documents
// every key. Pointers tell "absent" from the zero value.
type fileConfig struct {
	Interval       *duration        `toml:"interval"`
	AutoGroup      *bool            `toml:"auto_group"`
	GroupBy        *string          `toml:"group_by"`
	Conntrack      conntrackSection `toml:"conntrack"`
	Socket         socketSection    `toml:"socket"`
	Apps           []appSection     `toml:"app"`
	Monitors       []monitorSection `toml:"monitor"`
	State          stateSection     `toml:"state"`
	Limits         limitsSection    `toml:"limits"`
	HTTP           httpSection      `toml:"http"`
	Notify         []notifySection  `toml:"notify"`
	NotifySettings notifySettings   `toml:"notify_settings"`
	Classes        []classSection   `toml:"class"`
}

// classSection is one [[class]]: a destination class.
type classSection struct {
	Name string   `toml:"name"`
	CIDR []string `toml:"cidr"`
}

// conntrackSection is [conntrack]: what every conntrack monitor shares.
type conntrackSection struct {
	Manage       *bool   `toml:"manage"`
	Forwarded    *bool   `toml:"forwarded"`
	Namespaces   *string `toml:"namespaces"`
	ManageUserNS *bool   `toml:"manage_user_namespaces"`
}

// socketSection is [socket]: whether bytes are counted at the socket.
type socketSection struct {
	Mode           *string `toml:"mode"`
	QuietConntrack *bool   `toml:"quiet_conntrack"`
	MaxSockets     *int    `toml:"max_sockets"`
}

// appSection is one [[app]] rule.
type appSection struct {
	Name  string   `toml:"name"`
	Match []string `toml:"match"`
}

// monitorSection is one [[monitor]]; its keys depend on its type.
type monitorSection struct {
	Type string `toml:"type"`

	// type = "conntrack"
	Include     []string `toml:"include"`
	Exclude     []string `toml:"exclude"`
	IgnoreLocal bool     `toml:"ignore_local"`
	NetNS       string   `toml:"netns"`

	// type = "pipe"
	Listen       string     `toml:"listen"`
	Target       string     `toml:"target"`
	Name         string     `toml:"name"`
	RateLimit    model.Rate `toml:"rate_limit"`
	MaxConns     *int       `toml:"max_conns"`    // nil: the default
	IdleTimeout  *duration  `toml:"idle_timeout"` // nil: the default
	DrainTimeout duration   `toml:"drain_timeout"`
}

// The keys of a [[monitor]] section that belong to one type.
var (
	pipeKeys      = []string{"listen", "target", "name", "rate_limit", "max_conns", "idle_timeout", "drain_timeout"}
	conntrackKeys = []string{"include", "exclude", "ignore_local", "netns"}
)

// stateSection is [state].
type stateSection struct {
	Dir   *string   `toml:"dir"`
	Flush *duration `toml:"flush"`
}

// limitsSection is [limits].
type limitsSection struct {
	Apps             *int      `toml:"apps"`
	TopApps          *int      `toml:"top_apps"`
	ActiveWindow     *duration `toml:"active_window"`
	HistoryApps      *int      `toml:"history_apps"`
	DayApps          *int      `toml:"day_apps"`
	WebSocketClients *int      `toml:"websocket_clients"`
	Namespaces       *int      `toml:"namespaces"`
}

// httpSection is [http].
type httpSection struct {
	Listen         *string  `toml:"listen"`
	Token          string   `toml:"token"`
	AllowedOrigins []string `toml:"allowed_origins"`
}

// notifySection is one [[notify]] rule. Negative rates and unknown units
// are refused by model.Rate while decoding, with their line.
type notifySection struct {
	App            string     `toml:"app"`
	Class          string     `toml:"class"`
	InThreshold    model.Rate `toml:"in_threshold"`
	OutThreshold   model.Rate `toml:"out_threshold"`
	Window         *int       `toml:"window"`
	Command        argv       `toml:"command"`
	CommandTimeout *duration  `toml:"command_timeout"`
	Cooldown       *duration  `toml:"cooldown"`
	Resolve        bool       `toml:"resolve"`
	Webhook        string     `toml:"webhook"`
}

// notifySettings is [notify_settings]: what all rules share.
type notifySettings struct {
	MaxRunning  *int    `toml:"max_running"`
	CommandUser *string `toml:"command_user"`
}

// duration reads "1s", "1m30s".
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q: write it like \"1s\", \"500ms\" or \"1m30s\"", b)
	}
	d.Duration = v
	return nil
}

// argv is a command as a TOML list of strings. A single string is refused
// rather than split: splitting is a shell's job, and bwmon runs none.
type argv []string

func (a *argv) UnmarshalTOML(v any) error {
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf(`command must be a list, e.g. ["/usr/local/bin/page", "--team", "net"]: it runs without a shell, so bwmon splits nothing`)
	}
	*a = make(argv, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("command: %v is not a string: quote every argument", x)
		}
		*a = append(*a, s)
	}
	return nil
}
