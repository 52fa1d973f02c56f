package elb_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
)

func mustNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s = %v", what, err)
	}
}

func TestRegisterDeregisterWire(t *testing.T) {
	ctx := context.Background()
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{})
	mustNil(t, "Add web-1", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
	mustNil(t, "Add web-2 (IPv4-mapped IPv6)", b.Add(ctx, backend("web-2", "[::ffff:10.0.0.2]:31002")))
	if got, want := s.Targets(tgARN), []string{"10.0.0.1:31001=healthy", "10.0.0.2:31002=healthy"}; !slices.Equal(got, want) {
		t.Fatalf("ELB targets after Add = %q, want %q", got, want)
	}
	mustNil(t, "Drain web-1", b.Drain(ctx, "web-1"))
	if got := s.TargetState(tgARN, "10.0.0.1", 31001); got != "draining" {
		t.Fatalf("ELB state after Drain = %q, want draining", got)
	}
	h, err := b.Health(ctx)
	mustNil(t, "Health", err)
	if h["web-1"] != lb.StateDraining || h["web-2"] != lb.StateReady {
		t.Errorf("Health = %v, want web-1 draining, web-2 ready", h)
	}
	mustNil(t, "Remove web-2 without Drain", b.Remove(ctx, "web-2"))
	if got := s.TargetState(tgARN, "10.0.0.2", 31002); got != "draining" {
		t.Errorf("Remove without Drain left ELB state %q, want draining (deregistered)", got)
	}
	n := s.Calls("DeregisterTargets")
	mustNil(t, "Drain web-1 again", b.Drain(ctx, "web-1"))
	mustNil(t, "Add web-1 again while draining", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
	if s.Calls("DeregisterTargets") != n || s.TargetState(tgARN, "10.0.0.1", 31001) != "draining" {
		t.Errorf("idempotent Drain/Add changed ELB: %d deregister calls (was %d), state %q",
			s.Calls("DeregisterTargets"), n, s.TargetState(tgARN, "10.0.0.1", 31001))
	}
}

func TestAddConflicts(t *testing.T) {
	ctx := context.Background()
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{})
	mustNil(t, "Add", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
	tests := []struct {
		name string
		be   lb.Backend
		want error
	}{
		{"same ID, other address", backend("web-1", "10.0.0.1:31002"), lb.ErrExists},
		{"other ID, same target", backend("web-9", "10.0.0.1:31001"), lb.ErrExists},
		{"no address", lb.Backend{ID: "web-3"}, lb.ErrInvalid},
		{"port 0", backend("web-4", "10.0.0.4:0"), lb.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := s.Calls("RegisterTargets")
			if err := b.Add(ctx, tc.be); !errors.Is(err, tc.want) {
				t.Fatalf("Add(%s) = %v, want %v", tc.be, err, tc.want)
			}
			if s.Calls("RegisterTargets") != n {
				t.Errorf("a refused Add called RegisterTargets")
			}
		})
	}
}

// TestInstanceTargets: the target is Config.InstanceID's instance with the
// backend's port; a failing InstanceID fails Add without calling ELB.
func TestInstanceTargets(t *testing.T) {
	ctx := context.Background()
	s := fakeALB(t, "instance")
	boom := errors.New("no such task")
	b := newBalancer(t, s, elb.Config{InstanceID: func(_ context.Context, be lb.Backend) (string, error) {
		if be.ID == "lost" {
			return "", boom
		}
		return "i-0" + be.ID, nil
	}})
	mustNil(t, "Add", b.Add(ctx, backend("web1", "10.0.0.1:31001")))
	mustNil(t, "Add", b.Add(ctx, backend("web2", "10.0.0.1:31002")))
	if got, want := s.Targets(tgARN), []string{"i-0web1:31001=healthy", "i-0web2:31002=healthy"}; !slices.Equal(got, want) {
		t.Fatalf("targets = %q, want %q", got, want)
	}
	if err := b.Add(ctx, backend("lost", "10.0.0.9:1")); !errors.Is(err, boom) {
		t.Errorf("Add with failing InstanceID = %v, want it to wrap %v", err, boom)
	}
}

// TestWaitDrained: the fake's clock moves 60 s on every
// DescribeTargetHealth, so the 300 s deregistration delay passes after a
// few polls, without the test sleeping.
func TestWaitDrained(t *testing.T) {
	ctx := context.Background()
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{DrainPoll: time.Millisecond})
	mustNil(t, "Add", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
	if err := b.WaitDrained(ctx, "web-1"); !errors.Is(err, lb.ErrInvalid) {
		t.Errorf("WaitDrained before Drain = %v, want lb.ErrInvalid", err)
	}
	if err := b.WaitDrained(ctx, "nope"); !errors.Is(err, lb.ErrNotFound) {
		t.Errorf("WaitDrained(unknown) = %v, want lb.ErrNotFound", err)
	}
	if n, err := b.ActiveConns(ctx, "web-1"); n != 1 || err != nil {
		t.Errorf("ActiveConns of a registered target = %d, %v; want 1", n, err)
	}
	mustNil(t, "Drain", b.Drain(ctx, "web-1"))
	if n, err := b.ActiveConns(ctx, "web-1"); n != 1 || err != nil {
		t.Errorf("ActiveConns while draining = %d, %v; want 1", n, err)
	}
	s.AdvanceOn("DescribeTargetHealth", time.Minute)
	before := s.Calls("DescribeTargetHealth")
	mustNil(t, "WaitDrained", b.WaitDrained(ctx, "web-1"))
	// ActiveConns above was at 12:00 (no advance yet); polls at 12:01,
	// 12:02, 12:03, 12:04 see draining, 12:05 sees it done.
	if polls := s.Calls("DescribeTargetHealth") - before; polls != 5 {
		t.Errorf("WaitDrained polled %d times, want 5 (300 s delay, 60 s per poll)", polls)
	}
	if n, err := b.ActiveConns(ctx, "web-1"); n != 0 || err != nil {
		t.Errorf("ActiveConns after the drain = %d, %v; want 0", n, err)
	}
	if s.Calls("DescribeTargetGroupAttributes") != 1 {
		t.Errorf("the deregistration delay was read %d times, want once", s.Calls("DescribeTargetGroupAttributes"))
	}
	mustNil(t, "Remove", b.Remove(ctx, "web-1"))
	if bs, _ := b.Backends(ctx); len(bs) != 0 {
		t.Errorf("Backends after Remove = %v", bs)
	}
}

func TestWaitDrainedGivesUp(t *testing.T) {
	ctx := context.Background()
	s := elbtest.New(t, t0)
	s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{albARN}, TargetType: "ip", Port: 80, StuckDraining: true})
	b := newBalancer(t, s, elb.Config{DrainPoll: time.Millisecond, DrainGrace: 30 * time.Millisecond})
	mustNil(t, "Add", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
	mustNil(t, "Drain", b.Drain(ctx, "web-1"))
	if err := b.WaitDrained(ctx, "web-1"); !errors.Is(err, elb.ErrStale) || !contains(err.Error(), "draining") {
		t.Fatalf("WaitDrained on a target stuck draining = %v, want ErrStale naming the state", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.WaitDrained(cctx, "web-1"); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitDrained(cancelled) = %v", err)
	}
}

// TestDeregisterGoneTarget: a target someone else deregistered (ELB
// answers InvalidTarget) drains and removes without error.
func TestDeregisterGoneTarget(t *testing.T) {
	ctx := context.Background()
	s := elbtest.New(t, t0)
	s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{albARN}, TargetType: "ip", Port: 80})
	b := newBalancer(t, s, elb.Config{})
	other := newBalancer(t, s, elb.Config{})
	mustNil(t, "Add", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
	mustNil(t, "other Add", other.Add(ctx, backend("x", "10.0.0.1:31001")))
	mustNil(t, "other Remove", other.Remove(ctx, "x")) // delay 0: gone at once
	mustNil(t, "Drain of a target ELB no longer holds", b.Drain(ctx, "web-1"))
	if n, err := b.ActiveConns(ctx, "web-1"); n != 0 || err != nil {
		t.Errorf("ActiveConns = %d, %v; want 0", n, err)
	}
	mustNil(t, "Remove", b.Remove(ctx, "web-1"))
}

func TestAdopt(t *testing.T) {
	ctx := context.Background()
	s := fakeALB(t, "ip")
	s.RegisterExternally(tgARN, "10.0.9.9", 8080)
	s.RegisterExternally(tgARN, "2001:db8::9", 8080)
	plain := newBalancer(t, s, elb.Config{})
	if bs, err := plain.Backends(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("Backends without Adopt = %v, %v; want none (not ours)", bs, err)
	}
	b := newBalancer(t, s, elb.Config{Adopt: true})
	mustNil(t, "Add", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
	bs, err := b.Backends(ctx)
	mustNil(t, "Backends", err)
	want := []lb.Backend{backend("10.0.9.9:8080", "10.0.9.9:8080"), backend("[2001:db8::9]:8080", "[2001:db8::9]:8080"), backend("web-1", "10.0.0.1:31001")}
	if !slices.Equal(bs, want) {
		t.Fatalf("Backends with Adopt = %v, want %v", bs, want)
	}
	mustNil(t, "Drain adopted", b.Drain(ctx, "10.0.9.9:8080"))
	mustNil(t, "Remove adopted", b.Remove(ctx, "10.0.9.9:8080"))
	mustNil(t, "Remove adopted without Drain", b.Remove(ctx, "[2001:db8::9]:8080"))
	if got := s.Targets(tgARN); !slices.Equal(got, []string{"10.0.0.1:31001=healthy", "10.0.9.9:8080=draining", "2001:db8::9:8080=draining"}) {
		t.Errorf("ELB targets = %q, want the adopted ones draining", got)
	}
	if bs, _ := b.Backends(ctx); len(bs) != 1 || bs[0].ID != "web-1" {
		t.Errorf("Backends after removing the adopted = %v, want web-1 only", bs)
	}
	if err := b.Drain(ctx, "10.0.7.7:80"); !errors.Is(err, lb.ErrNotFound) {
		t.Errorf("Drain of a target ELB does not hold = %v, want lb.ErrNotFound", err)
	}
}

func TestClassicDrain(t *testing.T) {
	ctx := context.Background()
	s := elbtest.New(t, t0)
	s.AddClassic(elbtest.ClassicLB{Name: classicLB, DrainTimeout: 120 * time.Second})
	b := newBalancer(t, s, elb.Config{LoadBalancerName: classicLB, InstanceID: instanceOf, DrainPoll: time.Millisecond})
	mustNil(t, "Add", b.Add(ctx, backend("a", "10.0.0.1:80")))
	mustNil(t, "Add", b.Add(ctx, backend("b", "10.0.0.2:80")))
	if err := b.Add(ctx, backend("a2", "10.0.0.1:80")); err != nil {
		t.Fatalf("Add of another backend = %v", err)
	}
	if err := b.Add(ctx, lb.Backend{ID: "b", Addr: mustAddrPort("10.0.0.2:81")}); !errors.Is(err, lb.ErrExists) {
		t.Errorf("Add(b with another port) = %v, want lb.ErrExists", err)
	}
	if got := s.Instances(classicLB); !slices.Equal(got, []string{"i-a", "i-a2", "i-b"}) {
		t.Fatalf("instances = %v", got)
	}
	mustNil(t, "Drain", b.Drain(ctx, "a"))
	if got := s.Instances(classicLB); !slices.Equal(got, []string{"i-a2", "i-b"}) {
		t.Fatalf("instances after Drain = %v", got)
	}
	if n, _ := b.ActiveConns(ctx, "a"); n != 1 {
		t.Errorf("ActiveConns within the draining timeout = %d, want 1", n)
	}
	h, err := b.Health(ctx)
	mustNil(t, "Health", err)
	if h["a"] != lb.StateDraining || h["b"] != lb.StateReady {
		t.Errorf("Health = %v", h)
	}
	// ELB reports the instance InService, "Instance deregistration
	// currently in progress", until the connection-draining timeout (its
	// connections never end here).
	s.AdvanceOn("DescribeInstanceHealth", 30*time.Second)
	mustNil(t, "WaitDrained", b.WaitDrained(ctx, "a"))
	if s.Now().Sub(t0) < 120*time.Second {
		t.Errorf("WaitDrained returned at %s, before the 120 s timeout", s.Now().Sub(t0))
	}
	mustNil(t, "Remove", b.Remove(ctx, "a"))
	mustNil(t, "Remove (not drained)", b.Remove(ctx, "b"))
	if got := s.Instances(classicLB); !slices.Equal(got, []string{"i-a2"}) {
		t.Errorf("instances after Remove = %v", got)
	}
}

// TestActiveConnsSharesOneReading: a scheduler polls ActiveConns for every
// draining backend every tick; one DescribeTargetHealth answers them all
// for DrainPoll, and a membership change forces a fresh one.
func TestActiveConnsSharesOneReading(t *testing.T) {
	ctx := context.Background()
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{DrainPoll: time.Hour})
	for i, id := range []string{"a", "b", "c"} {
		mustNil(t, "Add", b.Add(ctx, lb.Backend{ID: id, Addr: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(31001+i))}))
		mustNil(t, "Drain", b.Drain(ctx, id))
	}
	before := s.Calls("DescribeTargetHealth")
	for range 5 {
		for _, id := range []string{"a", "b", "c"} {
			if n, err := b.ActiveConns(ctx, id); n != 1 || err != nil {
				t.Fatalf("ActiveConns(%s) = %d, %v; want 1 while draining", id, n, err)
			}
		}
	}
	if got := s.Calls("DescribeTargetHealth") - before; got != 1 {
		t.Errorf("15 ActiveConns calls made %d DescribeTargetHealth calls, want 1", got)
	}
	s.Advance(301 * time.Second) // the drains finish; the cache does not know
	if n, _ := b.ActiveConns(ctx, "a"); n != 1 {
		t.Errorf("ActiveConns within DrainPoll = %d, want the cached 1", n)
	}
	mustNil(t, "Remove c", b.Remove(ctx, "c"))
	if n, _ := b.ActiveConns(ctx, "a"); n != 0 {
		t.Errorf("ActiveConns after a membership change = %d, want a fresh 0", n)
	}
	if got := s.Calls("DescribeTargetHealth") - before; got != 2 {
		t.Errorf("DescribeTargetHealth calls = %d, want 2", got)
	}
}

// TestResume: a draining target is registered again (the wire call the
// SDK makes), ELB takes it back (initial, then healthy), and the driver
// reports it ready; a ready one sends nothing.
func TestResume(t *testing.T) {
	ctx := context.Background()
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{})
	mustNil(t, "Add", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
	n := s.Calls("RegisterTargets")
	mustNil(t, "Resume of a ready backend", b.Resume(ctx, "web-1"))
	if got := s.Calls("RegisterTargets"); got != n {
		t.Errorf("Resume of a ready backend sent %d RegisterTargets, want none", got-n)
	}
	mustNil(t, "Drain", b.Drain(ctx, "web-1"))
	if got := s.TargetState(tgARN, "10.0.0.1", 31001); got != "draining" {
		t.Fatalf("ELB state after Drain = %q, want draining", got)
	}
	mustNil(t, "Resume", b.Resume(ctx, "web-1"))
	if got := s.Calls("RegisterTargets"); got != n+1 {
		t.Errorf("Resume sent %d RegisterTargets, want 1", got-n)
	}
	if got := s.TargetState(tgARN, "10.0.0.1", 31001); got != "healthy" {
		t.Errorf("ELB state after Resume = %q, want healthy (registered again)", got)
	}
	h, err := b.Health(ctx)
	mustNil(t, "Health", err)
	if h["web-1"] != lb.StateReady {
		t.Errorf("Health after Resume = %v, want web-1 ready", h)
	}
	if n, err := b.ActiveConns(ctx, "web-1"); n != 1 || err != nil {
		t.Errorf("ActiveConns after Resume = %d, %v; want 1 (ELB holds it)", n, err)
	}
	if err := b.Resume(ctx, "nope"); !errors.Is(err, lb.ErrNotFound) {
		t.Errorf("Resume(unknown) = %v, want lb.ErrNotFound", err)
	}
	// A drain after a resume deregisters again.
	mustNil(t, "Drain again", b.Drain(ctx, "web-1"))
	if got := s.TargetState(tgARN, "10.0.0.1", 31001); got != "draining" {
		t.Errorf("ELB state after the second Drain = %q, want draining", got)
	}
}

// TestResumeRefused: when ELB refuses the registration the backend stays
// draining, and a later Resume tries again.
func TestResumeRefused(t *testing.T) {
	ctx := context.Background()
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{})
	mustNil(t, "Add", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
	mustNil(t, "Drain", b.Drain(ctx, "web-1"))
	s.Fail("RegisterTargets", 400, "TooManyRegistrationsForTargetId", 1)
	if err := b.Resume(ctx, "web-1"); err == nil || !contains(err.Error(), "TooManyRegistrationsForTargetId") {
		t.Fatalf("Resume refused by ELB = %v, want the AWS error", err)
	}
	if h, _ := b.Health(ctx); h["web-1"] != lb.StateDraining {
		t.Errorf("Health after a refused Resume = %v, want draining", h)
	}
	mustNil(t, "Resume again", b.Resume(ctx, "web-1"))
	if got := s.TargetState(tgARN, "10.0.0.1", 31001); got != "healthy" {
		t.Errorf("ELB state after Resume = %q, want healthy", got)
	}
}

func TestClassicResume(t *testing.T) {
	ctx := context.Background()
	s := elbtest.New(t, t0)
	s.AddClassic(elbtest.ClassicLB{Name: classicLB, DrainTimeout: 120 * time.Second})
	b := newBalancer(t, s, elb.Config{LoadBalancerName: classicLB, InstanceID: instanceOf})
	mustNil(t, "Add", b.Add(ctx, backend("a", "10.0.0.1:80")))
	mustNil(t, "Drain", b.Drain(ctx, "a"))
	if got := s.Instances(classicLB); len(got) != 0 {
		t.Fatalf("instances after Drain = %v, want none", got)
	}
	mustNil(t, "Resume", b.Resume(ctx, "a"))
	if got := s.Instances(classicLB); !slices.Equal(got, []string{"i-a"}) {
		t.Errorf("instances after Resume = %v, want [i-a]", got)
	}
}
