// Package notify watches per-app bandwidth against the limits of the
// [[notify]] rules and tells when an app breaks one: an alert line on
// stderr, the rule's command, and optionally a webhook.
//
// Each tick, for each (rule, app) pair, the app's rate in each checked
// direction goes into a ring buffer of the rule's window; the mean is
// compared with the threshold. Going over it queues a 'firing' event, at
// most once per cooldown per rule, app and direction; with resolve, falling
// below 90% of it queues 'resolved' (the gap keeps a rate hovering at the
// limit from flapping). A tick in which the app moved nothing counts as 0.
//
// App names come from process command lines, which any local user
// controls. The command's argv is exactly the configured list, run without
// a shell; the event reaches it only in BWMON_* environment variables and
// as one JSON object on its standard input, its app name passed through
// safename.Clean (at most safename.MaxLen bytes); the alert line and the
// log show it cleaned and cut to 60 characters.
//
// The Notifier is an aggregator.Consumer whose Consume only updates the
// averages and states and queues events. Alert lines, commands and webhook
// POSTs run on the notifier's own goroutines: at most max_running commands
// (and apart, max_running webhook deliveries) at once, each command killed
// with its process group after its timeout. Events wait for a slot in a
// queue per rule, at most MaxQueuedPerRule each, the rules served in turn,
// so that a flood of one rule's apps cannot hold back another rule. An
// event goes out (its alert line, its command, its webhook) when its slots
// are free, and only then does a 'firing' start its cooldown: an event
// that finds its rule's queue full is dropped, counted and logged (a line
// a minute at most), and fires again at the next tick while the app is
// still over. Close lets the queue out for a grace period, then stops it
// all.
//
// It keeps state only for the apps it watches: at most MaxWatched (rule,
// app) pairs, each forgotten once its app has gone quiet, so that apps
// that come and go do not grow it.
//
// With a Config.Launcher (cmd/bwmon's hidden `bwmon __alert-exec`), each
// command runs through it, and it lowers the command's privileges before it
// becomes the command. Without one, a command runs with the agent's
// privileges. The package itself needs no privileges.
//
// It does not deduplicate across rules: two rules that watch one app alert
// independently. It does not persist state: a restart forgets cooldowns.
package notify
