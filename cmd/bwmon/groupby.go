package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bwmon/bwmon/aggregator"
)

// parseGroupBy reads the top-level group_by key.
func parseGroupBy(s string) (aggregator.GroupBy, error) {
	by := aggregator.GroupBy(s)
	if slices.Contains(aggregator.GroupBys, by) {
		return by, nil
	}
	quoted := make([]string, len(aggregator.GroupBys))
	for i, b := range aggregator.GroupBys {
		quoted[i] = fmt.Sprintf("%q", b)
	}
	return "", fmt.Errorf("group_by = %q: want one of %s", s, strings.Join(quoted, ", "))
}
