package identity

import (
	"strings"
	"testing"

	"github.com/bwmon/bwmon/model"
)

// Container IDs and pod UIDs as real hosts show them.
const (
	id1    = "abddff03dfd7710c79a750ce3e730365cbb2c8247a974170c1062683bc3e9152"
	id2    = "f58c1c55e72c336d11c6af795260b57f7597d62e4d16951086f754d2e9ce5114"
	pod    = "9692aa0e-748e-11e8-8dfa-76d458035df6"
	podSD  = "9692aa0e_748e_11e8_8dfa_76d458035df6" // systemd's escaping
	static = "8a3e7f6bd2e3e94a0b7c9e2f6a1d4c5b"     // a static pod's hash
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name, path string
		want       Place
	}{
		{"systemd service", "/system.slice/nginx.service",
			Place{Unit: "nginx.service", OwnerUID: -1}},
		{"user session", "/user.slice/user-1000.slice/session-3.scope",
			Place{Unit: "session-3.scope", OwnerUID: 1000}},
		{"user service", "/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service",
			Place{Unit: "syncthing.service", OwnerUID: 1000}},
		{"root cgroup", "/", Place{OwnerUID: -1}},
		{"init", "/init.scope", Place{Unit: "init.scope", OwnerUID: -1}},
		{"docker cgroupfs", "/docker/" + id1,
			Place{Container: model.Container{Runtime: "docker", ID: id1}, OwnerUID: -1}},
		{"docker systemd", "/system.slice/docker-" + id1 + ".scope",
			Place{Unit: "docker-" + id1 + ".scope", Container: model.Container{Runtime: "docker", ID: id1}, OwnerUID: -1}},
		{"docker in docker", "/docker/" + id1 + "/docker/" + id2,
			Place{Container: model.Container{Runtime: "docker", ID: id2}, OwnerUID: -1}},
		{"containerd k8s systemd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podSD + ".slice/cri-containerd-" + id1 + ".scope",
			Place{Unit: "cri-containerd-" + id1 + ".scope", Container: model.Container{Runtime: "containerd", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"containerd k8s guaranteed", "/kubepods.slice/kubepods-pod" + podSD + ".slice/cri-containerd-" + id1 + ".scope",
			Place{Unit: "cri-containerd-" + id1 + ".scope", Container: model.Container{Runtime: "containerd", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"containerd under its service, runc notation", "/system.slice/containerd.service/kubepods-besteffort-pod" + podSD + ".slice:cri-containerd:" + id1,
			Place{Unit: "containerd.service", Container: model.Container{Runtime: "containerd", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"runc notation at the root (kind)", "/kubepods-besteffort-pod" + podSD + ".slice:cri-containerd:" + id1,
			Place{Container: model.Container{Runtime: "containerd", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"kind kubelet slices", "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + podSD + ".slice/cri-containerd-" + id1 + ".scope",
			Place{Unit: "cri-containerd-" + id1 + ".scope", Container: model.Container{Runtime: "containerd", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"nerdctl systemd", "/system.slice/nerdctl-" + id1 + ".scope",
			Place{Unit: "nerdctl-" + id1 + ".scope", Container: model.Container{Runtime: "containerd", ID: id1}, OwnerUID: -1}},
		{"podman rootful", "/machine.slice/libpod-" + id1 + ".scope",
			Place{Unit: "libpod-" + id1 + ".scope", Container: model.Container{Runtime: "podman", ID: id1}, OwnerUID: -1}},
		{"podman rootful, v2 sub-cgroup", "/machine.slice/libpod-" + id1 + ".scope/container",
			Place{Unit: "libpod-" + id1 + ".scope", Container: model.Container{Runtime: "podman", ID: id1}, OwnerUID: -1}},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope",
			Place{Unit: "libpod-" + id1 + ".scope", Container: model.Container{Runtime: "podman", ID: id1}, OwnerUID: 1000}},
		{"podman conmon is not the container", "/machine.slice/libpod-conmon-" + id1 + ".scope",
			Place{Unit: "libpod-conmon-" + id1 + ".scope", OwnerUID: -1}},
		{"podman cgroupfs", "/libpod_parent/libpod-" + id1,
			Place{Container: model.Container{Runtime: "podman", ID: id1}, OwnerUID: -1}},
		{"cri-o systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podSD + ".slice/crio-" + id1 + ".scope",
			Place{Unit: "crio-" + id1 + ".scope", Container: model.Container{Runtime: "cri-o", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"cri-o conmon", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podSD + ".slice/crio-conmon-" + id1 + ".scope",
			Place{Unit: "crio-conmon-" + id1 + ".scope", Container: model.Container{PodUID: pod}, OwnerUID: -1}},
		{"cri-o in minikube's docker", "/docker/" + id2 + "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podSD + ".slice/crio-" + id1 + ".scope",
			Place{Unit: "crio-" + id1 + ".scope", Container: model.Container{Runtime: "cri-o", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"kubepods cgroupfs", "/kubepods/besteffort/pod" + pod + "/" + id1,
			Place{Container: model.Container{Runtime: "cri", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"kubepods cgroupfs guaranteed, static pod", "/kubepods/pod" + static + "/" + id1,
			Place{Container: model.Container{Runtime: "cri", ID: id1, PodUID: static}, OwnerUID: -1}},
		{"kubepods cgroupfs cri-o", "/kubepods/burstable/pod" + pod + "/crio-" + id1,
			Place{Container: model.Container{Runtime: "cri-o", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"docker shim under k8s", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podSD + ".slice/docker-" + id1 + ".scope",
			Place{Unit: "docker-" + id1 + ".scope", Container: model.Container{Runtime: "docker", ID: id1, PodUID: pod}, OwnerUID: -1}},
		{"id too short", "/docker/" + id1[:63], Place{OwnerUID: -1}},
		{"id not hex", "/system.slice/docker-" + strings.Repeat("g", 64) + ".scope",
			Place{Unit: "docker-" + strings.Repeat("g", 64) + ".scope", OwnerUID: -1}},
		{"uppercase id", "/docker/" + strings.ToUpper(id1), Place{OwnerUID: -1}},
		{"bare id under an unknown parent", "/ecs/task/" + id1, Place{OwnerUID: -1}},
		{"bare id at the root", "/" + id1, Place{OwnerUID: -1}},
		{"unknown runc prefix", "/x.slice:other:" + id1, Place{OwnerUID: -1}},
		{"pod-like word", "/system.slice/ipod-sync.service", Place{Unit: "ipod-sync.service", OwnerUID: -1}},
		{"bad pod uid", "/kubepods/besteffort/pod1234/" + id1, Place{OwnerUID: -1}},
		{"bad user slice", "/user.slice/user-x.slice/session-1.scope", Place{Unit: "session-1.scope", OwnerUID: -1}},
		{"empty", "", Place{OwnerUID: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParsePath(tt.path); got != tt.want {
				t.Fatalf("ParsePath(%q) =\n%+v\nwant\n%+v", tt.path, got, tt.want)
			}
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name, content string
		wantPath      string
		wantPlace     Place
		wantOK        bool
	}{
		{"cgroup v2", "0::/system.slice/nginx.service\n",
			"/system.slice/nginx.service", Place{Unit: "nginx.service", OwnerUID: -1}, true},
		{"cgroup v1, docker cgroupfs",
			"12:memory:/docker/" + id1 + "\n11:cpu,cpuacct:/docker/" + id1 + "\n1:name=systemd:/docker/" + id1 + "\n",
			"/docker/" + id1, Place{Container: model.Container{Runtime: "docker", ID: id1}, OwnerUID: -1}, true},
		{"hybrid: v2 at the root, systemd v1 placed",
			"9:name=systemd:/user.slice/user-1000.slice/session-3.scope\n4:memory:/user.slice\n0::/\n",
			"/user.slice/user-1000.slice/session-3.scope", Place{Unit: "session-3.scope", OwnerUID: 1000}, true},
		{"hybrid: container on one v1 controller only",
			"9:name=systemd:/system.slice/foo.service\n4:memory:/docker/" + id1 + "\n0::/system.slice/foo.service\n",
			"/system.slice/foo.service", Place{Unit: "foo.service", Container: model.Container{Runtime: "docker", ID: id1}, OwnerUID: -1}, true},
		{"path with colons", "0::/kubepods-besteffort-pod" + podSD + ".slice:cri-containerd:" + id1 + "\n",
			"/kubepods-besteffort-pod" + podSD + ".slice:cri-containerd:" + id1,
			Place{Container: model.Container{Runtime: "containerd", ID: id1, PodUID: pod}, OwnerUID: -1}, true},
		{"all at the root", "0::/\n", "/", Place{OwnerUID: -1}, true},
		{"no trailing newline", "0::/init.scope", "/init.scope", Place{Unit: "init.scope", OwnerUID: -1}, true},
		{"empty", "", "", Place{OwnerUID: -1}, false},
		{"garbage", "hello\n:::\n1:x:relative\n", "", Place{OwnerUID: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, p, ok := ParseProcCgroup(tt.content)
			if path != tt.wantPath || p != tt.wantPlace || ok != tt.wantOK {
				t.Fatalf("ParseProcCgroup = %q, %+v, %v; want %q, %+v, %v", path, p, ok, tt.wantPath, tt.wantPlace, tt.wantOK)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/system.slice/docker-" + id1 + ".scope",
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podSD + ".slice/cri-containerd-" + id1 + ".scope",
		"/system.slice/containerd.service/kubepods-besteffort-pod" + podSD + ".slice:cri-containerd:" + id1,
		"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope/container",
		"/kubepods/pod" + static + "/" + id1, "/docker/" + id1, "/user-99999999999999999999.slice", "//:::/pod/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		p := ParsePath(path)
		c := p.Container
		if (c.ID != "") != (c.Runtime != "") || (c.ID != "" && !isID(c.ID)) {
			t.Fatalf("ParsePath(%q) gave container %+v", path, c)
		}
		if c.PodUID != "" && !isUID(c.PodUID) {
			t.Fatalf("ParsePath(%q) gave pod UID %q", path, c.PodUID)
		}
		if p.OwnerUID < -1 {
			t.Fatalf("ParsePath(%q) gave owner %d", path, p.OwnerUID)
		}
		if p.Unit != "" && (!strings.Contains(path, p.Unit) || strings.Contains(p.Unit, "/")) {
			t.Fatalf("ParsePath(%q) gave unit %q", path, p.Unit)
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	for _, s := range []string{
		"0::/system.slice/nginx.service\n",
		"12:memory:/docker/" + id1 + "\n11:cpu,cpuacct:/docker/" + id1 + "\n1:name=systemd:/docker/" + id1 + "\n",
		"9:name=systemd:/user.slice/user-1000.slice/session-3.scope\n4:memory:/user.slice\n0::/\n",
		"0::/kubepods-besteffort-pod" + podSD + ".slice:cri-containerd:" + id1,
		"hello\n:::\n1:x:relative\n", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		path, p, ok := ParseProcCgroup(content)
		if !ok {
			if path != "" || p != (Place{OwnerUID: -1}) {
				t.Fatalf("ParseProcCgroup(%q) = %q, %+v without ok", content, path, p)
			}
			return
		}
		if !strings.HasPrefix(path, "/") || !strings.Contains(content, ":"+path) {
			t.Fatalf("ParseProcCgroup(%q) gave the path %q, not one of its lines'", content, path)
		}
		if c := p.Container; c.ID != "" && !isID(c.ID) {
			t.Fatalf("ParseProcCgroup(%q) gave container %+v", content, c)
		}
	})
}
