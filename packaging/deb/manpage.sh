#!/bin/sh
# manpage.sh BIN VERSION EPOCH UNITDIR prints bwmon(1) in roff, made of what
# `BIN -h`, `BIN report -h` and `BIN pipe -h` print, so that the page and
# the flags cannot drift apart. mkdeb.sh runs it.
set -eu
bin=$1 version=$2 epoch=$3 unitdir=$4

# roff turns a Go flag package help text into paragraphs (.PP) and one
# tagged paragraph (.TP) per flag. The "usage:" lines are left out: the
# SYNOPSIS says the same.
roff() {
	awk '
	function esc(s) {
		gsub(/\\/, "\\e", s)
		gsub(/-/, "\\-", s)
		if (s ~ /^[.\047]/) s = "\\&" s
		return s
	}
	/^usage:/ { usage = 1; next }
	usage && /^ / { next }
	{ usage = 0 }
	/^flags:$/ { next }
	/^  -/ {
		sub(/^  /, "")
		name = $1
		$1 = ""
		sub(/^ /, "")
		print ".TP"
		if ($0 == "") print ".B " esc(name)
		else print ".BI \"" esc(name) " \" \"" esc($0) "\""
		tag = 1
		next
	}
	tag && /^    / {
		sub(/^[ \t]+/, "")
		print esc($0)
		next
	}
	/^$/ { para = 0; tag = 0; next }
	{
		tag = 0
		sub(/^[ \t]+/, "")
		if (!para) print ".PP"
		para = 1
		print esc($0)
	}
	'
}

help() {
	# Go's flag package prints -h to stderr and exits 0.
	"$bin" "$@" -h 2>&1 || true
}

cat <<EOF
.TH BWMON 1 "$(LC_ALL=C date -u -d "@$epoch" +%Y-%m-%d)" "bwmon $version" "User Commands"
.SH NAME
bwmon \\- per\\-process bandwidth accounting agent
.SH SYNOPSIS
.B bwmon
.RI [ flags ]
.br
.B bwmon report
.RI [ flags ]
.br
.B bwmon pipe
.RI [ flags "] " "LISTEN TARGET"
.SH DESCRIPTION
.B bwmon
answers "which program is eating my bandwidth?": it reads the kernel's
conntrack byte counters, ties each flow to the process that owns its
socket, groups processes into apps and reports what each app moved.
The package runs it as the
.B bwmon
service
.RB ( "systemctl status bwmon" ).
EOF
help | sed '/^flags:$/,$d' | roff
echo '.SH OPTIONS'
help | sed -n '/^flags:$/,$p' | roff
echo '.SH "BWMON REPORT"'
help report | roff
echo '.SH "BWMON PIPE"'
help pipe | roff
cat <<EOF
.SH FILES
.TP
.I /etc/bwmon/config.toml
The service's configuration (every key at its default; an upgrade keeps
your edits and leaves the new default beside it as
.IR config.toml.dpkg\\-dist ).
Check a change with
.B bwmon \\-check\\-config \\-config /etc/bwmon/config.toml
and apply it with
.BR "systemctl reload bwmon" .
.TP
.I /var/lib/bwmon
The service's state: totals and totals per day
.RI ( bwmon.db ).
systemd creates it for the service's dynamic user
.RI ( StateDirectory= );
purging the package deletes it.
.TP
.I $unitdir/bwmon.service
The unit; change it with
.BR "systemctl edit bwmon" .
.SH "SEE ALSO"
.BR systemctl (1),
.BR journalctl (1)
.PP
https://github.com/bwmon/bwmon
EOF
