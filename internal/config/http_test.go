package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/httpapi"
)

func TestParseHTTP(t *testing.T) {
	tests := []struct {
		name string
		text string
		want httpapi.Config
	}{
		{"default", "", httpapi.Config{Listen: "127.0.0.1:8000"}},
		{"every interface with a token", "[http]\nlisten = \":9000\"\ntoken = \"s3cret\"\n", httpapi.Config{Listen: ":9000", Token: "s3cret"}},
		{"off", "[http]\nlisten = \"\"\n", httpapi.Config{}},
		{"ipv6 loopback", "[http]\nlisten = \"[::1]:8000\"\n", httpapi.Config{Listen: "[::1]:8000"}},
		{"any free port", "[http]\nlisten = \"127.0.0.1:0\"\n", httpapi.Config{Listen: "127.0.0.1:0"}},
		{"origins normalised", "[http]\nallowed_origins = [\"https://Dash.Example:3000\", \"http://grafana.lan\"]\n",
			httpapi.Config{Listen: "127.0.0.1:8000", AllowedOrigins: []string{"https://dash.example:3000", "http://grafana.lan"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.HTTP, tt.want) {
				t.Fatalf("HTTP = %+v, want %+v", cfg.HTTP, tt.want)
			}
		})
	}
}

func TestParseHTTPErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"bare port", "interval = \"1s\"\n[http]\nlisten = \"8000\"\n", "c.toml:3: bad listen address \"8000\": write \"HOST:PORT\""},
		{"port out of range", "[http]\nlisten = \"127.0.0.1:70000\"\n", "c.toml:2: bad listen address"},
		{"named port", "[http]\nlisten = \"127.0.0.1:http\"\n", "c.toml:2: bad listen address"},
		{"host name", "[http]\nlisten = \"bwmon.lan:8000\"\n", "c.toml:2: bad listen address \"bwmon.lan:8000\": the host must be an IP address"},
		{"token with a space", "[http]\nlisten = \":8000\"\ntoken = \"two words\"\n", "c.toml:3: token may hold only printable ASCII"},
		{"token not ascii", "[http]\ntoken = \"pässword\"\n", "c.toml:2: token may hold only printable ASCII"},
		{"origin without scheme", "[http]\n\nallowed_origins = [\"dash.example\"]\n", "c.toml:3: allowed_origins: bad origin \"dash.example\""},
		{"origin with a path", "[http]\nallowed_origins = [\n  \"https://dash.example/grafana\",\n]\n", "c.toml:2: allowed_origins: bad origin"},
		{"unknown key", "[http]\nlisen = \"127.0.0.1:8000\"\n", "c.toml:2: unknown key \"http.lisen\""},
		{"listen not a string", "[http]\nlisten = 8000\n", "c.toml:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.toml", tt.text)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want a *Error", err, err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to start with %q", err, tt.want)
			}
		})
	}
}
