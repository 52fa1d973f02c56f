package mesos

import (
	"slices"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func TestFitOffer(t *testing.T) {
	role := func(r mesos.Resource, name string) mesos.Resource { r.Role = &name; return r }
	base := offer("o", "a", "10.0.0.1", 1, 256, 31000, 31003)
	tests := []struct {
		name  string
		res   []mesos.Resource
		ports int
		n     int
		want  int
	}{
		{"fits two by cpu", base.Resources, 1, 5, 2},
		{"need caps", base.Resources, 1, 1, 1},
		{"ports cap", base.Resources, 3, 5, 1},
		{"other role ignored", []mesos.Resource{role(base.Resources[0], "other"), base.Resources[1], base.Resources[2]}, 1, 5, 0},
		{"own role used", []mesos.Resource{role(base.Resources[0], "web"), base.Resources[1], base.Resources[2]}, 1, 5, 2},
		{"revocable ignored", func() []mesos.Resource {
			r := slices.Clone(base.Resources)
			r[0].Revocable = &mesos.Resource_RevocableInfo{}
			return r
		}(), 1, 5, 0},
		{"port 0 skipped", offer("o", "a", "h", 1, 256, 0, 1).Resources, 2, 5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(nil).withDefaults()
			cfg.Role = "web"
			cfg.Task.Ports = tc.ports
			o := base
			o.Resources = tc.res
			got := fitOffer(&o, &cfg, tc.n)
			if len(got) != tc.want {
				t.Fatalf("fitOffer = %d tasks, want %d", len(got), tc.want)
			}
			seen := map[uint64]bool{}
			for _, ti := range got {
				var cpus, mem float64
				for _, r := range ti.Resources {
					switch r.Name {
					case "cpus":
						cpus += r.GetScalar().GetValue()
					case "mem":
						mem += r.GetScalar().GetValue()
					case "ports":
						for _, rg := range r.GetRanges().GetRange() {
							for p := rg.Begin; p <= rg.End; p++ {
								if seen[p] || p == 0 {
									t.Errorf("port %d given twice or zero", p)
								}
								seen[p] = true
							}
						}
					}
				}
				if cpus != 0.5 || mem != 64 {
					t.Errorf("task %s: cpus %v mem %v, want 0.5/64", ti.TaskID.Value, cpus, mem)
				}
			}
			if len(seen) != tc.want*tc.ports {
				t.Errorf("%d ports used, want %d", len(seen), tc.want*tc.ports)
			}
		})
	}
}

func TestBuildTask(t *testing.T) {
	cfg := baseConfig(nil).withDefaults()
	cfg.Task.Command = nil
	cfg.Task.Image = "library/httpd:2.4"
	cfg.Task.Env = map[string]string{"B": "2", "A": "1"}
	cfg.Task.KillGracePeriod = 7 * time.Second
	o := offer("o", "agent-9", "web-1.example", 1, 256, 31000, 31003)
	ti := buildTask(&cfg, &o, "web.x", []uint64{31000, 31001}, nil)
	if ti.GetContainer().GetMesos().GetImage().GetDocker().GetName() != "library/httpd:2.4" ||
		ti.GetContainer().GetType() != mesos.ContainerInfo_MESOS {
		t.Errorf("container %v, want a Mesos container with the Docker image", ti.GetContainer())
	}
	if ti.GetCommand().Value != nil || ti.GetCommand().GetShell() {
		t.Errorf("command %v, want no value and no shell (image entrypoint)", ti.GetCommand())
	}
	var env []string
	for _, v := range ti.GetCommand().GetEnvironment().GetVariables() {
		env = append(env, v.Name+"="+v.GetValue())
	}
	want := []string{"HOST=web-1.example", "PORT=31000", "PORT0=31000", "PORT1=31001", "A=1", "B=2"}
	if !slices.Equal(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
	if got := ti.GetKillPolicy().GetGracePeriod().GetNanoseconds(); got != int64(7*time.Second) {
		t.Errorf("kill grace %d ns, want 7s", got)
	}
	if ti.AgentID.Value != "agent-9" || ti.TaskID.Value != "web.x" {
		t.Errorf("task %s on %s", ti.TaskID.Value, ti.AgentID.Value)
	}
}
