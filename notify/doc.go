// Package notify will watch per-app bandwidth against the SLA thresholds of
// [[notify]] rules and alert on stderr, through a command and a webhook
// (issue 3). It holds nothing yet: the agent does not read [[notify]]
// sections and sends no alerts.
package notify
