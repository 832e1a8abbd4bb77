package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// goldenCtr is the container ID in the golden tick.
const goldenCtr = "d548c5b83fa61d8e3bd86ad42a7ffea9b7c86e3f9d8095c1577d3e1270bb9420"

func goldenSnapshot() *model.Snapshot {
	return &model.Snapshot{
		Time:      time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC),
		Since:     time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		IntervalS: 1,
		Apps: []model.AppUsage{
			{App: "curl", BytesIn: 48 << 20, BytesOut: 501 << 10, RateIn: 11.8 * (1 << 20), RateOut: 120.43 * 1024, PIDs: []int{4242},
				Users: []model.UserRef{{UID: 0, Name: "root"}}, Units: []string{"docker-" + goldenCtr + ".scope"},
				Containers: []model.Container{{Runtime: "docker", ID: goldenCtr, Name: "fetcher"}}, Cgroups: []string{"/system.slice/docker-" + goldenCtr + ".scope"}},
			{App: "sshd", BytesIn: 213 << 10, BytesOut: 6 << 20, RateIn: 3.25 * 1024, RateOut: 1 << 20, PIDs: []int{812, 9001},
				Users: []model.UserRef{{UID: 0, Name: "root"}, {UID: 1000, Name: "alice"}}, Units: []string{"session-3.scope", "ssh.service"},
				Containers: []model.Container{}, Cgroups: []string{"/system.slice/ssh.service", "/user.slice/user-1000.slice/session-3.scope"}},
			{App: "a-command-line-that-is-much-longer-than-sixty-characters-and-goes-on", BytesIn: 10, PIDs: []int{},
				Users: []model.UserRef{}, Units: []string{}, Containers: []model.Container{}, Cgroups: []string{}},
			{App: "evil\x1b[2Jname", BytesOut: 5, PIDs: []int{},
				Users: []model.UserRef{}, Units: []string{}, Containers: []model.Container{}, Cgroups: []string{}},
		},
		Unattributed: model.Unattributed{BytesIn: 4096, BytesOut: 200, Reasons: map[model.Reason]model.UnattributedSum{
			model.ReasonNoSocket: {BytesIn: 4096}, model.ReasonKernel: {BytesOut: 200},
		}},
	}
}

func TestOutputGolden(t *testing.T) {
	tests := []struct {
		name, file string
		render     func(*bytes.Buffer, *model.Snapshot)
	}{
		{"table", "table.golden", func(b *bytes.Buffer, s *model.Snapshot) { (&tableOutput{w: b}).Consume(s) }},
		{"json", "tick.golden.json", func(b *bytes.Buffer, s *model.Snapshot) { newJSONOutput(b).Consume(s) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.render(&b, goldenSnapshot())
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("output differs from %s (go test -update rewrites it):\n%s\nwant:\n%s", path, b.Bytes(), want)
			}
		})
	}
}

func TestJSONTickIsOneObjectPerLine(t *testing.T) {
	var b bytes.Buffer
	o := newJSONOutput(&b)
	o.Consume(goldenSnapshot())
	o.Consume(goldenSnapshot())
	lines := bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal(lines[0], &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "interval_s", "apps", "unattributed"} {
		if _, ok := m[k]; !ok {
			t.Errorf("tick lacks %q: %s", k, lines[0])
		}
	}
}
