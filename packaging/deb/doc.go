// Package deb holds the tests of bwmon's Debian package and no Go code: the
// package is built by mkdeb.sh (`make deb`) with dpkg-deb, from the
// binary, cmd/bwmon/bwmon.service and config.example.toml, with the
// maintainer scripts, man page (manpage.sh) and copyright file
// (copyright.sh) of this directory. docs/package.md is its user
// documentation.
//
// The folder is packaging/deb, not debian/: a debian/ directory at the top
// of a repository announces a Debian source package, built by
// dpkg-buildpackage with a changelog kept by hand; this is a binary package
// built in one step from the tree, whose version comes from git describe,
// and debian/ stays free for a distribution's packaging.
//
// The tests build two packages, check them with lintian, and install,
// upgrade and purge them in scratch roots (dpkg --root): they need root,
// make, go, git, dpkg-deb, lintian and unshare, and never touch the
// system's own dpkg database, units or /var/lib/bwmon.
package deb
