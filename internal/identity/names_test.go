package identity

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmon/bwmon/internal/safename"
)

// The container IDs of the testdata trees.
const (
	dockerID     = "d548c5b83fa61d8e3bd86ad42a7ffea9b7c86e3f9d8095c1577d3e1270bb9420"
	crioID       = "c64064614423cb790e88b3e5492ff5ccf673b25ae823089f7a60c65cda24d809"
	crioListedID = "b6e12f544eba62b3a25a8952cb59d8be768e0b63614ce89b1f8d142e6070af1d"
	podmanID     = "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9"
	rootlessID   = "12b961af5feb3e9d39f93b2cefb9a1a944f18d02cca0cac2f04f5a982240605f"
	kubeID       = "2397d068a8d1552a4c3f9147ba9c94e086bfd66fb2acb5bbaf47197105127d5f"
	dataRootID   = "0afd2b339edbe43a104510a7597ae0c1bcb540c3326db763f5972e5fe78bde52"
)

func TestParseKubeLogName(t *testing.T) {
	tests := []struct {
		name, file, id, want string
		ok                   bool
	}{
		{"link", "coredns-5d78c9869d-abcde_kube-system_coredns-" + kubeID + ".log", kubeID, "kube-system/coredns-5d78c9869d-abcde/coredns", true},
		{"dashes in every part", "my-app-0_my-ns_side-car-" + kubeID + ".log", kubeID, "my-ns/my-app-0/side-car", true},
		{"another container's", "coredns-5d78c9869d-abcde_kube-system_coredns-" + kubeID + ".log", dockerID, "", false},
		{"too few parts", "coredns_coredns-" + kubeID + ".log", kubeID, "", false},
		{"too many parts", "a_b_c_d-" + kubeID + ".log", kubeID, "", false},
		{"empty part", "_kube-system_coredns-" + kubeID + ".log", kubeID, "", false},
		{"invalid UTF-8", "p\xff_ns_c-" + kubeID + ".log", kubeID, `ns/p\xff/c`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseKubeLogName(tt.file, tt.id)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ParseKubeLogName = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseDockerConfig(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"name", `{"ID":"x","Name":"/web"}`, "web"},
		{"kubernetes shim name", `{"Name":"/k8s_POD_web-0_default_0b9c1d2e-3f4a-5b6c-7d8e-9f0a1b2c3d4e_0"}`, "default/web-0/POD"},
		{"underscore in a plain name", `{"Name":"/my_db"}`, "my_db"},
		{"escapes and bidi are shown, not sent", `{"Name":"/a\u001b[2Jb\u202ec"}`, `a\x1b[2Jb\u202ec`},
		{"a long name is cut", `{"Name":"/` + strings.Repeat("x", 1000) + `"}`, strings.Repeat("x", safename.MaxLen-3) + "…"},
		{"no name", `{"ID":"x"}`, ""},
		{"not json", `{"Name":`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseDockerConfig([]byte(tt.json)); got != tt.want {
				t.Fatalf("ParseDockerConfig(%s) = %q, want %q", tt.json, got, tt.want)
			}
		})
	}
}

func TestParseCRIOConfig(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"labels", `{"annotations":{"io.kubernetes.pod.namespace":"ns","io.kubernetes.pod.name":"p","io.kubernetes.container.name":"c"}}`, "ns/p/c"},
		{"full name only", `{"annotations":{"io.kubernetes.cri-o.ContainerName":"k8s_c_p_ns_0b9c1d2e-3f4a-5b6c-7d8e-9f0a1b2c3d4e_0"}}`, "ns/p/c"},
		{"a podman spec", `{"annotations":{"io.container.manager":"libpod"}}`, ""},
		{"hostile labels", `{"annotations":{"io.kubernetes.pod.namespace":"ns","io.kubernetes.pod.name":"p\u009b","io.kubernetes.container.name":"c"}}`, `ns/p\u009b/c`},
		{"not json", `[`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseCRIOConfig([]byte(tt.json)); got != tt.want {
				t.Fatalf("ParseCRIOConfig(%s) = %q, want %q", tt.json, got, tt.want)
			}
		})
	}
}

func TestParseStorageContainers(t *testing.T) {
	tests := []struct{ name, json, id, want string }{
		{"first name", `[{"id":"` + podmanID + `","names":["db","db-alias"]}]`, podmanID, "db"},
		{"kubernetes name", `[{"id":"` + podmanID + `","names":["k8s_c_p_ns_0b9c1d2e-3f4a-5b6c-7d8e-9f0a1b2c3d4e_0"]}]`, podmanID, "ns/p/c"},
		{"another container", `[{"id":"` + podmanID + `","names":["db"]}]`, dockerID, ""},
		{"no names", `[{"id":"` + podmanID + `","names":[]}]`, podmanID, ""},
		{"control characters", `[{"id":"` + podmanID + `","names":["a\u0007b"]}]`, podmanID, `a\x07b`},
		{"not a list", `{"id":"x"}`, podmanID, ""},
		{"empty", ``, podmanID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseStorageContainers([]byte(tt.json), tt.id); got != tt.want {
				t.Fatalf("ParseStorageContainers(%s) = %q, want %q", tt.json, got, tt.want)
			}
		})
	}
}

// checkClean fails unless name is what safename.Clean leaves unchanged:
// valid UTF-8, nothing to escape, at most safename.MaxLen bytes.
func checkClean(t *testing.T, name string) {
	t.Helper()
	if !utf8.ValidString(name) || len(name) > safename.MaxLen || safename.Clean(name) != name {
		t.Fatalf("name %q is not clean", name)
	}
}

func FuzzParseDockerConfig(f *testing.F) {
	for _, s := range []string{`{"Name":"/web"}`, `{"Name":"/k8s_c_p_ns_u_0"}`, `{"Name":"/a\u001bb"}`, `{"Name":1}`, `[`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkClean(t, ParseDockerConfig(b))
	})
}

func FuzzParseStorageContainers(f *testing.F) {
	f.Add([]byte(`[{"id":"`+podmanID+`","names":["db"]}]`), podmanID)
	f.Add([]byte(`[{"id":"x","names":["k8s_c_p_ns_u_0","y"]},{"id":"x"}]`), "x")
	f.Add([]byte(`[{"id":"x","names":[null]}]`), "x")
	f.Add([]byte(`{}`), "")
	f.Fuzz(func(t *testing.T, b []byte, id string) {
		checkClean(t, ParseStorageContainers(b, id))
	})
}

func FuzzParseCRIOConfig(f *testing.F) {
	for _, s := range []string{
		`{"annotations":{"io.kubernetes.pod.namespace":"ns","io.kubernetes.pod.name":"p","io.kubernetes.container.name":"c"}}`,
		`{"annotations":{"io.kubernetes.cri-o.ContainerName":"k8s_c_p_ns_u_0"}}`,
		`{"annotations":{"io.kubernetes.cri-o.ContainerName":"k8s_\u202e"}}`,
		`{"annotations":null}`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkClean(t, ParseCRIOConfig(b))
	})
}

func FuzzParseKubeLogName(f *testing.F) {
	f.Add("coredns-5d78c9869d-abcde_kube-system_coredns-"+kubeID+".log", kubeID)
	f.Add("a_b_c-"+kubeID+".log", kubeID)
	f.Add("a_b_c_d-x.log", "x")
	f.Add("\xff_\x1b_c-x.log", "x")
	f.Fuzz(func(t *testing.T, file, id string) {
		name, ok := ParseKubeLogName(file, id)
		checkClean(t, name)
		if ok != (name != "") {
			t.Fatalf("ParseKubeLogName(%q, %q) = %q, %v: a name comes with ok", file, id, name, ok)
		}
		if ok && !strings.HasSuffix(file, "-"+id+".log") {
			t.Fatalf("ParseKubeLogName(%q, %q) matched a link of another container", file, id)
		}
	})
}
