package deb

import (
	"strings"
	"testing"
)

// debianVersion runs mkdeb.sh --debian-version v.
func debianVersion(v string) (string, error) {
	out, err := runErr("", nil, "sh", "packaging/deb/mkdeb.sh", "--debian-version", v)
	return strings.TrimSpace(out), err
}

// TestDebianVersion checks how mkdeb.sh makes a Debian version of what
// `git describe --tags --always --dirty` prints, and that the versions of
// successive builds sort as the builds do.
func TestDebianVersion(t *testing.T) {
	need(t, "dpkg", "git")
	head := strings.TrimSpace(run(t, "", nil, "git", "rev-parse", "--short", "HEAD"))
	count := strings.TrimSpace(run(t, "", nil, "git", "rev-list", "--count", "HEAD"))
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "tag", in: "v1.2.3", want: "1.2.3"},
		{name: "tag without v", in: "1.2.3", want: "1.2.3"},
		{name: "commits after a tag", in: "v1.2.3-5-gabc1234", want: "1.2.3+git5.gabc1234"},
		{name: "dirty tree", in: "v1.2.3-5-gabc1234-dirty", want: "1.2.3+git5.gabc1234+dirty"},
		{name: "pre-release", in: "v1.2.3-rc1", want: "1.2.3~rc1"},
		{name: "after a pre-release", in: "v1.2.3-rc1-5-gabc1234", want: "1.2.3~rc1+git5.gabc1234"},
		{name: "dotted pre-release", in: "v2.0.0-beta.2", want: "2.0.0~beta.2"},
		{name: "no tag: the commit", in: head, want: "0.0~git" + count + ".g" + head},
		{name: "no tag, dirty", in: head + "-dirty", want: "0.0~git" + count + ".g" + head + "+dirty"},
		{name: "no git", in: "dev", want: "0~dev"},
		{name: "characters dpkg refuses", in: "v1.2.3_build 7;x", want: "1.2.3.build.7.x"},
		{name: "an epoch is not taken", in: "1:2.0", want: "1.2.0"},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := debianVersion(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("debian version of %q: %q, want an error", tt.in, got)
				}
				if !strings.Contains(got, "DEB_VERSION") {
					t.Errorf("the error does not say to give DEB_VERSION: %q", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("debian version of %q: %q (%v), want %q", tt.in, got, err, tt.want)
			}
			run(t, "", nil, "dpkg", "--validate-version", got)
		})
	}

	t.Run("builds sort in order", func(t *testing.T) {
		builds := []string{head, "v0.9.0-rc1", "v0.9.0-rc1-2-gabc1234", "v0.9.0", "v0.9.0-3-gabc1234",
			"v0.9.0-3-gabc1234-dirty", "v0.9.0-4-gdef5678", "v0.9.1", "v0.10.0"}
		prev := ""
		for _, b := range builds {
			v, err := debianVersion(b)
			if err != nil {
				t.Fatalf("debian version of %q: %v\n%s", b, err, v)
			}
			if prev != "" {
				if _, err := runErr("", nil, "dpkg", "--compare-versions", prev, "lt", v); err != nil {
					t.Errorf("%s (before) does not sort before %s", prev, v)
				}
			}
			prev = v
		}
	})
}
