package aggregator

import (
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

const ctrID = "d548c5b83fa61d8e3bd86ad42a7ffea9b7c86e3f9d8095c1577d3e1270bb9420"

// procIn is a process with an identity.
func procIn(pid int, exe string, id *model.Identity) model.Info {
	return model.Info{Process: &model.Process{PID: pid, StartTime: 1, Exe: exe, Cmdline: exe, Identity: id}}
}

var (
	webID = &model.Identity{UID: 33, User: "www-data", Cgroup: "/system.slice/docker-" + ctrID + ".scope",
		Unit: "docker-" + ctrID + ".scope", Container: model.Container{Runtime: "docker", ID: ctrID, Name: "web"}}
	anonID = &model.Identity{UID: 0, User: "root", Cgroup: "/docker/" + ctrID,
		Container: model.Container{Runtime: "docker", ID: ctrID}}
	nginxID = &model.Identity{UID: 33, User: "www-data", Cgroup: "/system.slice/nginx.service", Unit: "nginx.service"}
	userID  = &model.Identity{UID: 1000, Cgroup: "/user.slice/user-1000.slice/session-3.scope", Unit: "session-3.scope"}
	rootID  = &model.Identity{UID: 0, User: "root", Cgroup: "/"}
)

func TestGroupBy(t *testing.T) {
	rules := []AppRule{{Name: "web", Match: []*regexp.Regexp{regexp.MustCompile(`nginx`)}}}
	tests := []struct {
		name string
		by   GroupBy
		info model.Info
		want string
	}{
		{"app: the rules", GroupByApp, procIn(1, "/usr/sbin/nginx", webID), "web"},
		{"unset is app", "", procIn(1, "/usr/sbin/nginx", webID), "web"},
		{"app: the executable", GroupByApp, procIn(2, "/usr/bin/curl", nginxID), "curl"},
		{"container: its name", GroupByContainer, procIn(1, "/usr/sbin/nginx", webID), "web"},
		{"container: short id without a name", GroupByContainer, procIn(3, "/usr/bin/curl", anonID), ctrID[:12]},
		{"container: host", GroupByContainer, procIn(4, "/usr/sbin/nginx", nginxID), GroupHost},
		{"container: unknown", GroupByContainer, procIn(5, "/usr/bin/curl", nil), GroupUnknown},
		{"unit", GroupByUnit, procIn(4, "/usr/sbin/nginx", nginxID), "nginx.service"},
		{"unit: a container's scope", GroupByUnit, procIn(1, "/usr/sbin/nginx", webID), "docker-" + ctrID + ".scope"},
		{"unit: none", GroupByUnit, procIn(6, "/usr/bin/curl", rootID), GroupNoUnit},
		{"unit: unknown", GroupByUnit, procIn(5, "/usr/bin/curl", nil), GroupUnknown},
		{"user: name", GroupByUser, procIn(4, "/usr/sbin/nginx", nginxID), "www-data"},
		{"user: uid without a name", GroupByUser, procIn(7, "/usr/bin/curl", userID), "1000"},
		{"user: unknown", GroupByUser, procIn(5, "/usr/bin/curl", nil), GroupUnknown},
		{"a pipe keeps its name", GroupByContainer, model.Info{App: "pipe-8080:b:80"}, "pipe-8080:b:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Grouper{Rules: rules, AutoGroup: true, By: tt.by}
			got, ok := g.App(tt.info)
			if got != tt.want || !ok {
				t.Fatalf("App() = %q, %v; want %q, true", got, ok, tt.want)
			}
		})
	}
	if _, ok := (&Grouper{By: GroupByUser}).App(model.Info{Unattributed: model.ReasonNoSocket}); ok {
		t.Fatal("unattributed bytes got a group")
	}
}

func TestTickGathersWhereAppsRun(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	m := &fakeMonitor{batches: [][]add{{
		{procIn(10, "/usr/sbin/nginx", webID), 100, 10},
		{procIn(11, "/usr/sbin/nginx", nginxID), 200, 20},
		{procIn(12, "/usr/sbin/nginx", anonID), 300, 30},
		{procIn(13, "/usr/sbin/nginx", nil), 400, 40},
		{procIn(20, "/usr/bin/curl", userID), 50, 5},
		{model.Info{App: "pipe"}, 1, 1},
	}}}
	tests := []struct {
		name string
		by   GroupBy
		want map[string]model.AppUsage // the lists and bytes_in of each app
	}{
		{"app", GroupByApp, map[string]model.AppUsage{
			"nginx": {BytesIn: 1000,
				Users:      []model.UserRef{{UID: 0, Name: "root"}, {UID: 33, Name: "www-data"}},
				Units:      []string{"docker-" + ctrID + ".scope", "nginx.service"},
				Containers: []model.Container{{Runtime: "docker", ID: ctrID}, {Runtime: "docker", ID: ctrID, Name: "web"}},
				Cgroups:    []string{"/docker/" + ctrID, "/system.slice/docker-" + ctrID + ".scope", "/system.slice/nginx.service"}},
			"curl": {BytesIn: 50, Users: []model.UserRef{{UID: 1000}}, Units: []string{"session-3.scope"},
				Containers: []model.Container{}, Cgroups: []string{"/user.slice/user-1000.slice/session-3.scope"}},
			"pipe": {BytesIn: 1, Users: []model.UserRef{}, Units: []string{}, Containers: []model.Container{}, Cgroups: []string{}},
		}},
		{"container", GroupByContainer, map[string]model.AppUsage{
			"web": {BytesIn: 100, Users: []model.UserRef{{UID: 33, Name: "www-data"}}, Units: []string{"docker-" + ctrID + ".scope"},
				Containers: []model.Container{{Runtime: "docker", ID: ctrID, Name: "web"}}, Cgroups: []string{"/system.slice/docker-" + ctrID + ".scope"}},
			ctrID[:12]: {BytesIn: 300, Users: []model.UserRef{{UID: 0, Name: "root"}}, Units: []string{},
				Containers: []model.Container{{Runtime: "docker", ID: ctrID}}, Cgroups: []string{"/docker/" + ctrID}},
			GroupHost: {BytesIn: 250, Users: []model.UserRef{{UID: 33, Name: "www-data"}, {UID: 1000}},
				Units: []string{"nginx.service", "session-3.scope"}, Containers: []model.Container{},
				Cgroups: []string{"/system.slice/nginx.service", "/user.slice/user-1000.slice/session-3.scope"}},
			GroupUnknown: {BytesIn: 400, Users: []model.UserRef{}, Units: []string{}, Containers: []model.Container{}, Cgroups: []string{}},
			"pipe":       {BytesIn: 1, Users: []model.UserRef{}, Units: []string{}, Containers: []model.Container{}, Cgroups: []string{}},
		}},
		{"unit", GroupByUnit, map[string]model.AppUsage{
			"docker-" + ctrID + ".scope": {BytesIn: 100},
			"nginx.service":              {BytesIn: 200},
			GroupNoUnit:                  {BytesIn: 300},
			GroupUnknown:                 {BytesIn: 400},
			"session-3.scope":            {BytesIn: 50},
			"pipe":                       {BytesIn: 1},
		}},
		{"user", GroupByUser, map[string]model.AppUsage{
			"www-data":   {BytesIn: 300},
			"root":       {BytesIn: 300},
			GroupUnknown: {BytesIn: 400},
			"1000":       {BytesIn: 50},
			"pipe":       {BytesIn: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.n = 0
			a := New(Config{Grouper: Grouper{AutoGroup: true, By: tt.by}, Retention: time.Minute}, []Monitor{m}, nil, nil, t0)
			s := a.Tick(t0.Add(time.Second))
			got := map[string]model.AppUsage{}
			for _, u := range s.Apps {
				got[u.App] = u
			}
			if len(got) != len(tt.want) {
				t.Fatalf("apps = %v, want %d: %v", keys(got), len(tt.want), keys(tt.want))
			}
			for name, w := range tt.want {
				g, ok := got[name]
				if !ok {
					t.Fatalf("no app %q among %v", name, keys(got))
				}
				if g.BytesIn != w.BytesIn {
					t.Errorf("%s: bytes_in %d, want %d", name, g.BytesIn, w.BytesIn)
				}
				if w.Users == nil { // only the bytes are checked
					continue
				}
				if !reflect.DeepEqual(g.Users, w.Users) || !reflect.DeepEqual(g.Units, w.Units) ||
					!reflect.DeepEqual(g.Containers, w.Containers) || !reflect.DeepEqual(g.Cgroups, w.Cgroups) {
					t.Errorf("%s:\n users %v units %v containers %v cgroups %v\nwant\n users %v units %v containers %v cgroups %v",
						name, g.Users, g.Units, g.Containers, g.Cgroups, w.Users, w.Units, w.Containers, w.Cgroups)
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestReconfigureGroupByStartsAfresh(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	m := &fakeMonitor{batches: [][]add{{{procIn(10, "/usr/sbin/nginx", nginxID), 100, 10}}, {{procIn(10, "/usr/sbin/nginx", nginxID), 5, 0}}, {{procIn(10, "/usr/sbin/nginx", nginxID), 7, 0}}}}
	cfg := Config{Grouper: Grouper{AutoGroup: true}, Retention: time.Minute}
	a := New(cfg, []Monitor{m}, nil, nil, t0)
	a.Tick(t0.Add(time.Second))

	cfg.Grouper.By = GroupByApp // the same as unset: totals kept
	a.Reconfigure(cfg, []Monitor{m}, nil)
	s := a.Tick(t0.Add(2 * time.Second))
	if len(s.Apps) != 1 || s.Apps[0].App != "nginx" || s.Apps[0].BytesIn != 105 {
		t.Fatalf("after reconfiguring the same grouping: %+v, want nginx with 105 bytes in", s.Apps)
	}

	cfg.Grouper.By = GroupByUnit
	a.Reconfigure(cfg, []Monitor{m}, nil)
	s = a.Tick(t0.Add(3 * time.Second))
	if len(s.Apps) != 1 || s.Apps[0].App != "nginx.service" || s.Apps[0].BytesIn != 7 {
		t.Fatalf("after switching to group by unit: %+v, want nginx.service alone with this tick's 7 bytes", s.Apps)
	}
}

func TestTickGathersNetNS(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	inNS := func(pid int, exe, ns string, id *model.Identity) model.Info {
		i := procIn(pid, exe, id)
		i.Process.NetNS = ns
		return i
	}
	m := &fakeMonitor{batches: [][]add{{
		{inNS(10, "/usr/sbin/nginx", "net:[4026532481]", webID), 1, 0},
		{inNS(11, "/usr/sbin/nginx", "blue", nil), 1, 0}, // no identity: the namespace still counts
		{inNS(12, "/usr/sbin/nginx", "blue", nginxID), 1, 0},
		{inNS(13, "/usr/sbin/nginx", "", nginxID), 1, 0}, // the host's
		{inNS(20, "/usr/bin/curl", "", userID), 1, 0},
	}}}
	a := New(Config{Grouper: Grouper{AutoGroup: true}, Retention: time.Minute}, []Monitor{m}, nil, nil, t0)
	s := a.Tick(t0.Add(time.Second))
	got := map[string][]string{}
	for _, u := range s.Apps {
		got[u.App] = u.NetNS
	}
	want := map[string][]string{"nginx": {"blue", "net:[4026532481]"}, "curl": {}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("netns %#v, want %#v", got, want)
	}
}
