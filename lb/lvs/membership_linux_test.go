package lvs

import (
	"context"
	"errors"
	"testing"

	"github.com/webfarm/webfarm/lb"
)

func TestResume(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(ctx context.Context, b *Balancer, k *fakeKernel) error
		id      string
		want    int // the real server's weight after Resume
		wantErr error
	}{
		{"drained server gets its Config.Weight back", func(ctx context.Context, b *Balancer, _ *fakeKernel) error {
			return b.Drain(ctx, "a")
		}, "a", 5, nil},
		{"drained server gets its own weight back", func(ctx context.Context, b *Balancer, _ *fakeKernel) error {
			if err := b.SetWeight(ctx, "a", 200); err != nil {
				return err
			}
			return b.Drain(ctx, "a")
		}, "a", 200, nil},
		{"drained twice keeps the first weight", func(ctx context.Context, b *Balancer, _ *fakeKernel) error {
			if err := b.SetWeight(ctx, "a", 9); err != nil {
				return err
			}
			if err := b.Drain(ctx, "a"); err != nil {
				return err
			}
			return b.Drain(ctx, "a")
		}, "a", 9, nil},
		{"SetWeight 0 counts as a drain", func(ctx context.Context, b *Balancer, _ *fakeKernel) error {
			if err := b.SetWeight(ctx, "a", 17); err != nil {
				return err
			}
			return b.SetWeight(ctx, "a", 0)
		}, "a", 17, nil},
		{"found at weight 0 gets Config.Weight", func(ctx context.Context, b *Balancer, k *fakeKernel) error {
			k.dest(vip, be("a", "10.0.1.1:80").Addr).Weight = 0 // drained by ipvsadm
			return nil
		}, "a", 5, nil},
		{"ready server unchanged", func(ctx context.Context, b *Balancer, _ *fakeKernel) error {
			return b.SetWeight(ctx, "a", 33)
		}, "a", 33, nil},
		{"unknown ID", func(context.Context, *Balancer, *fakeKernel) error { return nil }, "zz", 5, lb.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			k := newFakeKernel()
			b := newFake(t, k, Config{Weight: 5})
			a := be("a", "10.0.1.1:80")
			if err := b.Add(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := tc.prepare(ctx, b, k); err != nil {
				t.Fatal(err)
			}
			err := b.Resume(ctx, tc.id)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Resume(%s) = %v, want %v", tc.id, err, tc.wantErr)
			}
			if w := k.dest(vip, a.Addr).Weight; w != tc.want {
				t.Errorf("weight after Resume = %d, want %d", w, tc.want)
			}
			if st, _ := b.Stats(ctx); st.Backends["a"].State != lb.StateReady {
				t.Errorf("state after Resume = %s, want ready", st.Backends["a"].State)
			}
		})
	}
}

// TestResumeForgetsRemoved: a removed and re-added server does not get the
// weight its earlier life had before a drain.
func TestResumeForgetsRemoved(t *testing.T) {
	ctx := context.Background()
	k := newFakeKernel()
	b := newFake(t, k, Config{Weight: 5})
	a := be("a", "10.0.1.1:80")
	steps := []func() error{
		func() error { return b.Add(ctx, a) },
		func() error { return b.SetWeight(ctx, "a", 99) },
		func() error { return b.Drain(ctx, "a") },
		func() error { return b.Remove(ctx, "a") },
		func() error { return b.Add(ctx, a) },
		func() error { k.dest(vip, a.Addr).Weight = 0; return nil },
		func() error { return b.Resume(ctx, "a") },
	}
	for i, st := range steps {
		if err := st(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if w := k.dest(vip, a.Addr).Weight; w != 5 {
		t.Errorf("weight = %d, want Config.Weight 5", w)
	}
	if _, ok := b.drainedWeight(a.Addr); ok {
		t.Error("a drained weight is still kept after Resume")
	}
}
