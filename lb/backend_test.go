package lb

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

type bare struct{ Balancer }

func TestHelpersUnsupported(t *testing.T) {
	ctx := context.Background()
	if _, err := ActiveConns(ctx, bare{}, "x"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ActiveConns on a bare balancer = %v, want ErrUnsupported", err)
	}
	if err := SetWeight(ctx, bare{}, "x", 1); !errors.Is(err, ErrUnsupported) {
		t.Errorf("SetWeight on a bare balancer = %v, want ErrUnsupported", err)
	}
	if err := Resume(ctx, bare{}, "x"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Resume on a bare balancer = %v, want ErrUnsupported", err)
	}
	if err := Close(bare{}); err != nil {
		t.Errorf("Close on a balancer without Close = %v, want nil", err)
	}
}

type resumer struct {
	bare
	got string
}

func (r *resumer) Resume(_ context.Context, id string) error { r.got = id; return nil }

func TestResumeCallsResumer(t *testing.T) {
	r := &resumer{}
	if err := Resume(context.Background(), r, "web-1"); err != nil || r.got != "web-1" {
		t.Errorf("Resume(web-1) = %v and reached the driver with %q, want nil and web-1", err, r.got)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateReady: "ready", StateDraining: "draining", State(9): "State(9)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}
