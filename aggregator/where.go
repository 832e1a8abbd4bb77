package aggregator

import (
	"cmp"
	"slices"

	"github.com/bwmon/bwmon/internal/safename"
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

// newWhere returns an empty gatherer.
func newWhere() *where {
	return &where{
		seen:       map[*model.Process]struct{}{},
		users:      map[model.UserRef]struct{}{},
		units:      map[string]struct{}{},
		containers: map[model.Container]struct{}{},
		cgroups:    map[string]struct{}{},
		netns:      map[string]struct{}{},
	}
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

// fill sets u's lists: each made clean (safename.Clean), sorted, without
// repeats and cut to its first model.MaxListed entries; empty (not nil)
// where nothing is known, and for a nil w. Names are cleaned here, once per
// distinct name and tick, not once per process.
func (w *where) fill(u *model.AppUsage) {
	u.Users, u.Units, u.Containers, u.Cgroups, u.NetNS = []model.UserRef{}, []string{}, []model.Container{}, []string{}, []string{}
	if w == nil {
		return
	}
	for r := range w.users {
		u.Users = append(u.Users, model.UserRef{UID: r.UID, Name: safename.Clean(r.Name)})
	}
	slices.SortFunc(u.Users, func(a, b model.UserRef) int {
		return cmp.Or(cmp.Compare(a.UID, b.UID), cmp.Compare(a.Name, b.Name))
	})
	u.Users = budgeted(listed(slices.Compact(u.Users)), func(r model.UserRef) int { return len(r.Name) + 8 })
	for c := range w.containers {
		u.Containers = append(u.Containers, model.Container{
			Runtime: safename.Clean(c.Runtime), ID: safename.Clean(c.ID),
			Name: safename.Clean(c.Name), PodUID: safename.Clean(c.PodUID)})
	}
	slices.SortFunc(u.Containers, func(a, b model.Container) int {
		return cmp.Or(cmp.Compare(a.Runtime, b.Runtime), cmp.Compare(a.ID, b.ID), cmp.Compare(a.PodUID, b.PodUID), cmp.Compare(a.Name, b.Name))
	})
	u.Containers = budgeted(listed(slices.Compact(u.Containers)), func(c model.Container) int {
		return len(c.Runtime) + len(c.ID) + len(c.Name) + len(c.PodUID)
	})
	u.Units = cleanList(w.units)
	u.Cgroups = cleanList(w.cgroups)
	u.NetNS = cleanList(w.netns)
}

// cleanList returns the names of m made clean, sorted, without repeats,
// at most model.MaxListed of them and model.MaxListedBytes in all.
func cleanList(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, safename.Clean(k))
	}
	slices.Sort(out)
	return budgeted(listed(slices.Compact(out)), func(s string) int { return len(s) })
}

// budgeted returns the first elements of s whose sizes add up to at most
// model.MaxListedBytes (at least the first one).
func budgeted[T any](s []T, size func(T) int) []T {
	used := 0
	for i, v := range s {
		used += size(v)
		if used > model.MaxListedBytes && i > 0 {
			return s[:i:i]
		}
	}
	return s
}

// listed returns the first model.MaxListed elements of s, in an array of
// their own when s is longer, so that a snapshot does not hold the rest.
func listed[T any](s []T) []T {
	if len(s) <= model.MaxListed {
		return s
	}
	return slices.Clone(s[:model.MaxListed])
}
