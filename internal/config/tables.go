package config

import (
	"fmt"
	"path/filepath"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/internal/classify"
	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/model"
)

// limits maps [limits] onto l, which holds the defaults.
func (p *parser) limits(s limitsSection, l model.Limits) (model.Limits, error) {
	for _, k := range []struct {
		v   *int
		dst *int
	}{
		{s.Apps, &l.Apps},
		{s.TopApps, &l.TopApps},
		{s.HistoryApps, &l.HistoryApps},
		{s.DayApps, &l.DayApps},
		{s.WebSocketClients, &l.WebSocketClients},
		{s.Namespaces, &l.Namespaces},
	} {
		if k.v != nil {
			*k.dst = *k.v
		}
	}
	if s.ActiveWindow != nil {
		l.ActiveWindow = s.ActiveWindow.Duration
	}
	if err := l.Validate(); err != nil {
		return l, p.invalid("limits", err)
	}
	return l, nil
}

// aggregator maps the top-level keys and the [[app]] rules onto c, which
// holds the defaults, with the limits l.
func (p *parser) aggregator(fc fileConfig, c aggregator.Config, l model.Limits) (aggregator.Config, error) {
	c.Limits = l
	if fc.Interval != nil {
		c.Interval = fc.Interval.Duration
	}
	if fc.AutoGroup != nil {
		c.Grouper.AutoGroup = *fc.AutoGroup
	}
	if fc.GroupBy != nil {
		c.Grouper.By = aggregator.GroupBy(*fc.GroupBy)
	}
	for i, a := range fc.Apps {
		rule := aggregator.AppRule{Name: a.Name}
		for _, m := range a.Match {
			re, err := compileRegex(m)
			if err != nil {
				return c, p.errAt(fmt.Sprintf("app.%d.match", i), "app %q: %v", a.Name, err)
			}
			rule.Match = append(rule.Match, re)
		}
		c.Grouper.Rules = append(c.Grouper.Rules, rule)
	}
	if err := c.Validate(); err != nil {
		return c, p.invalid("", err)
	}
	return c, nil
}

// state maps [state] onto c, which holds the defaults.
func (p *parser) state(s stateSection, c state.Config) (state.Config, error) {
	if s.Dir != nil {
		c.Dir = *s.Dir
	}
	if s.Flush != nil {
		c.Flush = s.Flush.Duration
	}
	if err := c.Validate(); err != nil {
		return c, p.invalid("state", err)
	}
	if c.Dir != "" {
		c.Dir = filepath.Clean(c.Dir)
	}
	return c, nil
}

// http maps [http] onto c, which holds the defaults; the origins are
// normalised.
func (p *parser) http(s httpSection, c httpapi.Config) (httpapi.Config, error) {
	if s.Listen != nil {
		c.Listen = *s.Listen
	}
	c.Token, c.AllowedOrigins = s.Token, s.AllowedOrigins
	if err := c.Validate(); err != nil {
		return c, p.invalid("http", err)
	}
	c.AllowedOrigins = nil
	for _, o := range s.AllowedOrigins {
		n, _ := httpapi.NormalizeOrigin(o) // Validate checked it
		c.AllowedOrigins = append(c.AllowedOrigins, n)
	}
	return c, nil
}

// classes maps the [[class]] sections and builds their table.
func (p *parser) classes(sections []classSection) (classify.Config, *classify.Table, error) {
	var c classify.Config
	for _, s := range sections {
		c.Rules = append(c.Rules, classify.Rule{Name: s.Name, CIDR: s.CIDR})
	}
	t, err := classify.New(c)
	if err != nil {
		return c, nil, p.invalid("", err)
	}
	return c, t, nil
}
