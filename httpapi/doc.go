// Package httpapi serves what the agent measures, to a person in a browser
// and to machines:
//
//   - GET /api/v1/apps: the latest tick, the JSON object `bwmon -output json`
//     prints (model.Snapshot);
//   - GET /api/v1/history?app=NAME&since=15m: an app's rates from rings in
//     memory, 1-second points for 15 minutes and 1-minute points (average
//     and peak) for 24 hours;
//   - GET /api/v1/histories?app=A&app=B&since=15m: the same for up to
//     MaxHistoryApps apps in one request;
//   - GET /api/v1/interfaces?since=15m: the interface graph's history: the
//     rates of the interfaces coverage counts (at most MaxLinkSeries), of
//     their sum and of what bwmon accounted for of it;
//   - GET /api/v1/live: a WebSocket that pushes each tick as it is made, to
//     at most Options.MaxClients clients at once (503 beyond);
//   - GET /api/v1/stats: the agent's limits and what they folded, refused
//     or dropped;
//   - GET /api/v1/usage?period=day|month&since=7d&apps=20: the bytes of
//     each app per day or month, from the state store (Options.Usage);
//   - GET /metrics: Prometheus metrics per app and of the agent itself;
//   - GET /: a page embedded in the binary with a live table and graphs, an
//     app's processes and the usage per day or month.
//
// A Server is an aggregator.Consumer: Consume keeps the tick, appends to
// the history and queues one prepared message per WebSocket client, and
// never waits for a client (a client that falls behind is dropped). Serve
// runs the HTTP server until its context ends.
//
// Names are data: the aggregator hands the server clean names
// (safename.Clean) and at most Limits.Apps apps by name, the rest folded
// into model.OtherApp; /metrics cleans label values again and leaves out,
// counted, a sample it still cannot serve, so that no name can fail a
// scrape; the page sets names as text only.
//
// It does not authenticate users beyond one shared bearer token, does not
// serve TLS (put a reverse proxy in front for that), and keeps no history
// on disk: a restart starts the graphs afresh. It needs no privileges,
// except to listen on a port below 1024.
package httpapi
