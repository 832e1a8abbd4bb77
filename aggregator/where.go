package aggregator

import (
	"cmp"
	"slices"

	"github.com/bwmon/bwmon/model"
)

// where gathers, for one app, where its live processes run: the users,
// units, containers and cgroups of their identities, and their network
// namespaces.
type where struct {
	seen       map[*model.Process]struct{}
	users      map[model.UserRef]struct{}
	units      map[string]struct{}
	containers map[model.Container]struct{}
	cgroups    map[string]struct{}
	netns      map[string]struct{}
}

// whereOf returns app's gatherer in m, making it on first use.
func whereOf(m map[string]*where, app string) *where {
	w := m[app]
	if w == nil {
		w = &where{
			seen:       map[*model.Process]struct{}{},
			users:      map[model.UserRef]struct{}{},
			units:      map[string]struct{}{},
			containers: map[model.Container]struct{}{},
			cgroups:    map[string]struct{}{},
			netns:      map[string]struct{}{},
		}
		m[app] = w
	}
	return w
}

// add records where p runs; a process is looked at once however many
// entries it has.
func (w *where) add(p *model.Process) {
	if _, ok := w.seen[p]; ok {
		return
	}
	w.seen[p] = struct{}{}
	if p.NetNS != "" {
		w.netns[p.NetNS] = struct{}{}
	}
	id := p.Identity
	if id == nil {
		return
	}
	w.users[model.UserRef{UID: id.UID, Name: id.User}] = struct{}{}
	if id.Unit != "" {
		w.units[id.Unit] = struct{}{}
	}
	if id.Container != (model.Container{}) {
		w.containers[id.Container] = struct{}{}
	}
	if id.Cgroup != "" {
		w.cgroups[id.Cgroup] = struct{}{}
	}
}

// fill sets u's lists, sorted; empty (not nil) where nothing is known, and
// for a nil w.
func (w *where) fill(u *model.AppUsage) {
	u.Users, u.Units, u.Containers, u.Cgroups, u.NetNS = []model.UserRef{}, []string{}, []model.Container{}, []string{}, []string{}
	if w == nil {
		return
	}
	for r := range w.users {
		u.Users = append(u.Users, r)
	}
	slices.SortFunc(u.Users, func(a, b model.UserRef) int { return cmp.Compare(a.UID, b.UID) })
	for c := range w.containers {
		u.Containers = append(u.Containers, c)
	}
	slices.SortFunc(u.Containers, func(a, b model.Container) int {
		return cmp.Or(cmp.Compare(a.Runtime, b.Runtime), cmp.Compare(a.ID, b.ID), cmp.Compare(a.PodUID, b.PodUID), cmp.Compare(a.Name, b.Name))
	})
	u.Units = sortedKeys(w.units)
	u.Cgroups = sortedKeys(w.cgroups)
	u.NetNS = sortedKeys(w.netns)
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
