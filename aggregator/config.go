package aggregator

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bwmon/bwmon/model"
)

// MinInterval is the shortest tick: shorter ones cost more than they show.
const MinInterval = 100 * time.Millisecond

// Validate reports the first field of c that cannot run, as a
// *model.FieldError naming its key in the configuration file ("interval",
// "group_by", "app.N.match", "limits.apps"). It checks c as it runs:
// zero fields, which New reads as defaults, are refused.
func (c Config) Validate() error {
	switch {
	case c.Interval < MinInterval:
		return model.FieldErrorf("interval", "interval %s is too short: use at least %s", c.Interval, MinInterval)
	case c.Retention < 0:
		return model.FieldErrorf("retention", "retention %s must not be negative", c.Retention)
	case c.ForwardedPairs < 0:
		return model.FieldErrorf("forwarded_pairs", "forwarded_pairs = %d must not be negative", c.ForwardedPairs)
	}
	if err := c.Grouper.Validate(); err != nil {
		return err
	}
	return model.InField("limits", c.Limits.Validate())
}

// Validate reports the first field of g that cannot run, as a
// *model.FieldError naming its key: "group_by", or an [[app]] table
// ("app.N", "app.N.name", "app.N.match").
func (g *Grouper) Validate() error {
	if !slices.Contains(GroupBys, g.By) {
		quoted := make([]string, len(GroupBys))
		for i, b := range GroupBys {
			quoted[i] = fmt.Sprintf("%q", b)
		}
		return model.FieldErrorf("group_by", "group_by = %q: want one of %s", g.By, strings.Join(quoted, ", "))
	}
	seen := make(map[string]bool, len(g.Rules))
	for i, r := range g.Rules {
		key := fmt.Sprintf("app.%d", i)
		switch {
		case strings.TrimSpace(r.Name) == "":
			return model.FieldErrorf(key, "[[app]] needs a name")
		case seen[r.Name]:
			return model.FieldErrorf(key+".name", "app %q is defined twice", r.Name)
		case len(r.Match) == 0:
			return model.FieldErrorf(key, `app %q needs match = ["regex", ...]`, r.Name)
		}
		seen[r.Name] = true
		for _, re := range r.Match {
			switch {
			case re == nil:
				return model.FieldErrorf(key+".match", "app %q: a regex is missing", r.Name)
			case re.String() == "":
				return model.FieldErrorf(key+".match", "app %q: %w", r.Name, model.ErrEmptyRegex)
			}
		}
	}
	return nil
}
