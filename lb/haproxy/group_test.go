package haproxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/lb"
)

// TestReadAll drives three backends of one real HAProxy (routed by path)
// and reads them in one round trip: each reading has its own backend's
// servers and request count, equal to what the Balancer's own Read says.
func TestReadAll(t *testing.T) {
	needHAProxy(t)
	ctx := context.Background()
	names := []string{"webfarm", "api", "static"}
	p := startProc(t, haproxyproc.Config{Routes: names[1:]})
	farm := newWebFarm(t, 3)
	var bs []*Balancer
	for i, name := range names {
		cfg := Config{Backend: name}
		if i == 2 {
			cfg.TotalsOnly = true
		}
		b := connect(t, p, cfg)
		for j := range i + 1 { // 1, 2 and 3 servers
			if err := b.Add(ctx, lb.Backend{ID: fmt.Sprintf("%s-%d", name, j), Addr: farm.addr(j)}); err != nil {
				t.Fatal(err)
			}
		}
		bs = append(bs, b)
	}
	for i, name := range names { // 10, 20 and 30 requests
		url := p.URL()
		if i > 0 {
			url += name + "/"
		}
		if n, err := get(ctx, url, 10*(i+1)); err != nil || n != 10*(i+1) {
			t.Fatalf("%s: %d requests answered, err %v", name, n, err)
		}
	}
	rs, err := ReadAll(ctx, bs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		own, err := bs[i].read(ctx, !bs[i].cfg.TotalsOnly)
		if err != nil {
			t.Fatal(err)
		}
		r := rs[i]
		if r.Requests != uint64(10*(i+1)) || own.Requests != r.Requests {
			t.Errorf("%s: ReadAll Requests %d, own Read %d, want %d", name, r.Requests, own.Requests, 10*(i+1))
		}
		wantServers := i + 1
		if bs[i].cfg.TotalsOnly {
			wantServers = 0
		}
		if len(r.Backends) != wantServers || len(own.Backends) != wantServers {
			t.Errorf("%s: ReadAll has %d servers, own Read %d, want %d", name, len(r.Backends), len(own.Backends), wantServers)
		}
		for id := range r.Backends {
			if _, ok := own.Backends[id]; !ok {
				t.Errorf("%s: ReadAll has server %s the backend's own Read has not", name, id)
			}
		}
		if r.PID == 0 || r.PID != own.PID || r.Restarted {
			t.Errorf("%s: PID %d (own %d), restarted %v", name, r.PID, own.PID, r.Restarted)
		}
	}

	g, err := NewGroup(time.Minute, bs...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		for _, b := range bs {
			st, err := g.Member(b).Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := rs[slices.Index(bs, b)].Requests; st.Requests != want {
				t.Errorf("round %d: member %s Stats Requests %d, want %d", i, b.cfg.Backend, st.Requests, want)
			}
		}
	}
	if n := g.Reads(); n != 1 {
		t.Errorf("3 rounds of Stats on 3 members read HAProxy %d times, want 1 (maxAge 1m)", n)
	}

	other := connect(t, startProc(t, haproxyproc.Config{}), Config{})
	for _, tc := range []struct {
		name string
		bs   []*Balancer
	}{{"none", nil}, {"twice", []*Balancer{bs[0], bs[0]}}, {"two sockets", []*Balancer{bs[0], other}}} {
		if _, err := ReadAll(ctx, tc.bs...); !errors.Is(err, lb.ErrInvalid) {
			t.Errorf("ReadAll(%s) = %v, want lb.ErrInvalid", tc.name, err)
		}
		if _, err := NewGroup(time.Second, tc.bs...); !errors.Is(err, lb.ErrInvalid) {
			t.Errorf("NewGroup(%s) = %v, want lb.ErrInvalid", tc.name, err)
		}
	}
	if _, err := g.Read(ctx, other); !errors.Is(err, lb.ErrInvalid) {
		t.Errorf("Group.Read of a non-member = %v, want lb.ErrInvalid", err)
	}
}
