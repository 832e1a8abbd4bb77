// Package httpapi will serve the live table, graph, JSON API, WebSocket and
// Prometheus metrics (issue 4). It holds nothing yet: the agent serves no
// HTTP.
package httpapi
