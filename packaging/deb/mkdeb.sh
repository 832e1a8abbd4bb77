#!/bin/sh
# mkdeb.sh builds bwmon's Debian package with dpkg-deb; `make deb` runs it
# (docs/package.md). It needs go, dpkg-deb and git (for the version); it
# runs as any user (dpkg-deb --root-owner-group makes every file root's).
#
#   packaging/deb/mkdeb.sh                     bin/bwmon_VERSION_ARCH.deb
#   packaging/deb/mkdeb.sh --debian-version V  print the Debian version of V
#
# Environment (the Makefile passes its variables of the same names):
#   VERSION         the version, as `git describe --tags --always --dirty`
#                   prints it; made Debian-valid (debian_version below)
#   DEB_VERSION     the package version as is, instead of one made of VERSION
#   DEB_OUTDIR      where the .deb goes (default bin)
#   DEB_CONFIG      the file shipped as /etc/bwmon/config.toml (default
#                   config.example.toml)
#   DEB_MAINTAINER  the Maintainer field, "Name <address>"
#   DEB_COMPRESS    dpkg-deb's compression: xz (default), gzip, zstd, none
#   DEB_UNITDIR     where the unit goes (default: what systemd.pc says, as
#                   debhelper does, else /lib/systemd/system)
#   GO              the Go command (default go)
set -eu
umask 022

fail() {
	echo "mkdeb: $*" >&2
	exit 1
}

# debian_version prints the Debian version of a version string $1:
#   v1.2.3                    1.2.3
#   v1.2.3-rc1                1.2.3~rc1            (before 1.2.3)
#   v1.2.3-5-gabc1234         1.2.3+git5.gabc1234  (after 1.2.3)
#   v1.2.3-5-gabc1234-dirty   1.2.3+git5.gabc1234+dirty
#   abc1234 (no tag yet)      0.0~git181.gabc1234  (181 commits: later
#                                                  commits sort higher)
#   dev                       0~dev
# A version that still is not valid after that (dpkg --validate-version) is
# an error that says to set DEB_VERSION.
debian_version() {
	v=$1
	dirty=
	case $v in
	*-dirty) v=${v%-dirty} dirty=+dirty ;;
	esac
	[ -n "$v" ] || fail "VERSION is empty: give VERSION=1.2.3 or DEB_VERSION=1.2.3"
	if printf '%s\n' "$v" | grep -Eqx '[0-9a-f]{7,40}' &&
		! git rev-parse -q --verify "refs/tags/$v" >/dev/null 2>&1 &&
		n=$(git rev-list --count "$v" 2>/dev/null); then
		# git describe --always without a tag: the abbreviated commit.
		v="0.0~git$n.g$v"
	else
		case $v in
		v[0-9]*) v=${v#v} ;;
		esac
		v=$(printf '%s\n' "$v" | sed -E \
			-e 's/-([0-9]+)-g([0-9a-f]+)$/+git\1.g\2/' \
			-e 's/^([0-9][^-+]*)-/\1~/' \
			-e 's/[^A-Za-z0-9.+~]/./g')
		case $v in
		[0-9]*) ;;
		*) v="0~$v" ;;
		esac
	fi
	v=$v$dirty
	if ! dpkg --validate-version "$v" >/dev/null 2>&1; then
		fail "cannot make a Debian version of VERSION=$1 (got $v): give DEB_VERSION=1.2.3"
	fi
	printf '%s\n' "$v"
}

cd "$(dirname "$0")/../.."

if [ "${1:-}" = --debian-version ]; then
	[ $# -eq 2 ] || fail "usage: mkdeb.sh --debian-version VERSION"
	debian_version "$2"
	exit 0
fi
[ $# -eq 0 ] || fail "usage: mkdeb.sh (the environment says what to build; see its top)"

GO=${GO:-go}
command -v "$GO" >/dev/null || fail "$GO is missing: put Go on PATH or give GO=/path/to/go"
for tool in dpkg-deb:dpkg dpkg-buildflags:dpkg-dev dpkg-shlibdeps:dpkg-dev "${CC:-gcc}:gcc" strip:binutils; do
	command -v "${tool%:*}" >/dev/null || fail "${tool%:*} is missing: apt-get install ${tool##*:}"
done

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
version=${DEB_VERSION:-$(debian_version "$VERSION")}
dpkg --validate-version "$version" || fail "DEB_VERSION=$version is not a Debian version"
outdir=${DEB_OUTDIR:-bin}
config=${DEB_CONFIG:-config.example.toml}
[ -f "$config" ] || fail "DEB_CONFIG=$config: no such file"
maintainer=${DEB_MAINTAINER:-bwmon developers <bwmon@example.org>}
unitdir=${DEB_UNITDIR:-$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)}
unitdir=${unitdir:-/lib/systemd/system}

# The package is for this machine's architecture: the binary links against
# its C library (see below), so build an arm64 package on an arm64 machine.
arch=$(dpkg --print-architecture)
if [ -n "${GOARCH:-}" ] && [ "$GOARCH" != "$("$GO" env GOHOSTARCH)" ]; then
	fail "GOARCH=$GOARCH: the package is built for this machine's architecture ($arch); build it on a $GOARCH machine"
fi

# Every timestamp in the package is the last commit's, so that one commit
# builds one package (reproducible-builds.org).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
# dpkg-shlibdeps wants the tree where debhelper puts it: debian/PACKAGE.
root=$tmp/debian/bwmon
doc=$root/usr/share/doc/bwmon
install -d -m 0755 "$root" "$root/DEBIAN" "$root/usr/bin" "$root/etc/bwmon" \
	"$root$unitdir" "$doc" "$root/usr/share/man/man1"

# The binary, built as Debian builds C: with cgo, linked by the system's
# linker (-linkmode=external: Go's own linker ignores -extldflags) with
# dpkg-buildflags' hardening (PIE, RELRO, bind now), so that its libc
# dependency is what dpkg-shlibdeps reads off it; stripped as dh_strip
# strips; stamped with the package's version for `bwmon -version`.
flags() {
	DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"
}
CGO_ENABLED=1 CGO_CFLAGS=$(flags CFLAGS) CGO_CPPFLAGS=$(flags CPPFLAGS) CGO_LDFLAGS=$(flags LDFLAGS) \
	"$GO" build -trimpath -buildmode=pie \
	-ldflags "-s -w -X main.version=$version -linkmode=external '-extldflags=$(flags LDFLAGS)'" \
	-o "$root/usr/bin/bwmon" ./cmd/bwmon
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/bwmon" # as dh_strip
chmod 0755 "$root/usr/bin/bwmon"
printf 'Source: bwmon\n\nPackage: bwmon\nArchitecture: any\n' >"$tmp/debian/control"
depends=$(cd "$tmp" && dpkg-shlibdeps -O -edebian/bwmon/usr/bin/bwmon | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || fail "dpkg-shlibdeps found no dependency of the binary"

install -m 0644 "$config" "$root/etc/bwmon/config.toml"

# The unit of cmd/bwmon, for /usr/bin/bwmon, with a header of its own.
{
	echo "# bwmon.service of the bwmon package. Change it with a drop-in"
	echo "# (systemctl edit bwmon), not here: an upgrade replaces this file."
	sed -e '1,/^\[Unit\]/{/^#/d}' -e 's|/usr/local/bin/bwmon|/usr/bin/bwmon|g' \
		-e '/^Description=/a Documentation=man:bwmon(1)' cmd/bwmon/bwmon.service
} >"$root$unitdir/bwmon.service"
chmod 0644 "$root$unitdir/bwmon.service"

sh packaging/deb/manpage.sh "$root/usr/bin/bwmon" "$version" "$SOURCE_DATE_EPOCH" "$unitdir" |
	gzip -9n >"$root/usr/share/man/man1/bwmon.1.gz"

GO=$GO sh packaging/deb/copyright.sh >"$doc/copyright"

# A native package's changelog: one entry for the commit it was built from.
{
	printf 'bwmon (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built from %s (git %s).\n\n' "$VERSION" "$commit"
	printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"

for s in postinst prerm postrm; do
	install -m 0755 "packaging/deb/$s" "$root/DEBIAN/$s"
done
install -d -m 0755 "$root/usr/share/lintian/overrides"
sed "s|\\[lib/systemd/system/|[${unitdir#/}/|" packaging/deb/lintian-overrides >"$root/usr/share/lintian/overrides/bwmon"
echo /etc/bwmon/config.toml >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum) >"$root/DEBIAN/md5sums"

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: bwmon
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Section: net
Priority: optional
Homepage: https://github.com/bwmon/bwmon
Description: per-process bandwidth accounting agent
 bwmon tells which program is eating the bandwidth of a Linux host. It
 reads the kernel's conntrack byte counters over netlink, ties each flow to
 the process that owns its socket, groups processes into apps (by rule,
 executable, container, systemd unit or user) and reports what each app
 moved: a live table, a web page, a JSON API and Prometheus metrics on
 127.0.0.1:8000, with totals per day kept in /var/lib/bwmon.
 .
 The bwmon service runs under a dynamic user with CAP_NET_ADMIN,
 CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH only, configured by
 /etc/bwmon/config.toml.
EOF

find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
mkdir -p "$outdir"
deb=$outdir/bwmon_${version}_$arch.deb
dpkg-deb --root-owner-group "-Z${DEB_COMPRESS:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
