// Package notify watches per-app bandwidth against the limits of the
// [[notify]] rules and tells when an app breaks one: an alert line on
// stderr, the rule's command, and optionally a webhook.
//
// Each tick, for each (rule, app) pair, the app's rate in each checked
// direction goes into a ring buffer of the rule's window; the mean is
// compared with the threshold. Going over it sends a 'firing' event, at
// most once per cooldown per rule, app and direction; with resolve, falling
// below 90% of it sends 'resolved' (the gap keeps a rate hovering at the
// limit from flapping). A tick in which the app moved nothing counts as 0.
//
// App names come from process command lines, which any local user
// controls. The command's argv is exactly the configured list, run without
// a shell; the event reaches it only in BWMON_* environment variables and
// as one JSON object on its standard input; the alert line replaces
// unprintable characters.
//
// The Notifier is an aggregator.Consumer whose Consume only updates the
// averages and states. Alert lines, commands and webhook POSTs run on the
// notifier's own goroutines: at most max_running commands (and apart,
// max_running webhook deliveries) at once, each command killed with its
// process group after its timeout, each event beyond that dropped and
// logged. Close stops them all. Running a command needs whatever that
// command needs; the package needs no privileges.
//
// It does not deduplicate across rules: two rules that watch one app alert
// independently. It does not persist state: a restart forgets cooldowns.
package notify
