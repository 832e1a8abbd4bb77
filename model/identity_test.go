package model

import "testing"

func TestContainerLabel(t *testing.T) {
	const id = "d548c5b83fa61d8e3bd86ad42a7ffea9b7c86e3f9d8095c1577d3e1270bb9420"
	tests := []struct {
		name string
		c    Container
		want string
	}{
		{"name", Container{Runtime: "docker", ID: id, Name: "web"}, "web"},
		{"short id", Container{Runtime: "docker", ID: id}, "d548c5b83fa6"},
		{"odd short id kept whole", Container{Runtime: "docker", ID: "abc"}, "abc"},
		{"pod only", Container{PodUID: "9692aa0e-748e-11e8-8dfa-76d458035df6"}, "pod-9692aa0e-748e-11e8-8dfa-76d458035df6"},
		{"none", Container{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Label(); got != tt.want {
				t.Fatalf("Label() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUserRefLabel(t *testing.T) {
	if got := (UserRef{UID: 33, Name: "www-data"}).Label(); got != "www-data" {
		t.Fatalf("named user: %q", got)
	}
	if got := (UserRef{UID: 100999}).Label(); got != "100999" {
		t.Fatalf("unnamed user: %q", got)
	}
}
