// Package remote follows a running bwmon agent over its HTTP API, for
// `bwmon top`: the ticks as they come over the WebSocket GET /api/v1/live
// (with the latest from GET /api/v1/apps at each connection), reconnecting
// with backoff when the agent goes away, and an app's processes from GET
// /api/v1/processes. It sends the agent's token as "Authorization: Bearer".
//
// What it receives is another program's output: it bounds what it reads,
// and hands names on as they come; whoever shows them cleans them
// (internal/safename). It needs no privilege: only the agent's address and,
// when the agent has one, its token.
package remote
