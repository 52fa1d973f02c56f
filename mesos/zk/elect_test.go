package zk_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/zktest"
	"github.com/webfarm/webfarm/mesos/zk"
)

// TestStateSaveIsFenced: the leader's state survives its term; once its
// member znode is gone (as when its session expired), Save fails with
// ErrNotLeader and leaves the successor's data alone.
func TestStateSaveIsFenced(t *testing.T) {
	srv := zktest.Shared(t)
	u := zkURL(t, srv.Addr)
	el := &zk.Elector{URL: u, SessionTimeout: haSession, ID: "a", Logger: testLogger(t)}
	conn, _, err := rawConn(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := testCtx(t)
	terms := 0
	err = el.Run(ctx, func(ctx context.Context, term *zk.Term) error {
		st := term.State()
		if terms++; terms == 2 {
			// Elected again with a new member znode: the state is there.
			if b, err := st.Load(ctx); string(b) != "two" || err != nil {
				t.Errorf("Load in the next term = %q, %v; want two", b, err)
			}
			return errors.New("done")
		}
		if b, err := st.Load(ctx); b != nil || err != nil {
			t.Errorf("Load before any Save = %q, %v; want nil, nil", b, err)
		}
		for _, v := range []string{"one", "two"} {
			if err := st.Save(ctx, []byte(v)); err != nil {
				t.Fatalf("Save(%s): %v", v, err)
			}
		}
		if b, err := st.Load(ctx); string(b) != "two" || err != nil {
			t.Errorf("Load = %q, %v; want two", b, err)
		}
		if err := conn.Delete(term.Node(), -1); err != nil { // the session "expired"
			t.Fatal(err)
		}
		if err := st.Save(context.Background(), []byte("stale")); !errors.Is(err, zk.ErrNotLeader) {
			t.Errorf("Save after the member znode went = %v, want ErrNotLeader", err)
		}
		<-ctx.Done() // the term ends: the member znode's deletion was seen
		if err := st.Save(context.Background(), []byte("stale")); !errors.Is(err, zk.ErrNotLeader) {
			t.Errorf("Save after the term = %v, want ErrNotLeader", err)
		}
		return nil
	})
	if err == nil || err.Error() != "done" || terms != 2 {
		t.Errorf("Run = %v after %d terms, want done after 2 (the lost term campaigns again)", err, terms)
	}
	b, _, err := conn.Get(u.Path + "/" + zk.StateNode)
	if string(b) != "two" || err != nil {
		t.Errorf("state znode %q, %v; want two", b, err)
	}
}

// TestResignHandsOverAtOnce: a leader whose work returns resigns, closing
// its session, so the standby leads without waiting for a session timeout;
// Run returns the work's error.
func TestResignHandsOverAtOnce(t *testing.T) {
	srv := zktest.Shared(t)
	u := zkURL(t, srv.Addr)
	ctx := testCtx(t)
	quit := errors.New("quit")
	aLeads, bLeads := make(chan struct{}), make(chan time.Time, 1)
	release := make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		a := &zk.Elector{URL: u, SessionTimeout: 10 * time.Second, Logger: testLogger(t)}
		aDone <- a.Run(ctx, func(ctx context.Context, _ *zk.Term) error { close(aLeads); <-release; return quit })
	}()
	select {
	case <-aLeads:
	case <-time.After(10 * time.Second):
		t.Fatal("no leader within 10s")
	}
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	go func() {
		b := &zk.Elector{URL: u, SessionTimeout: 10 * time.Second, Logger: testLogger(t)}
		b.Run(bctx, func(ctx context.Context, _ *zk.Term) error { bLeads <- time.Now(); <-ctx.Done(); return nil })
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-bLeads:
		t.Fatal("the standby leads while the leader holds the office")
	default:
	}
	resigned := time.Now()
	close(release)
	if err := <-aDone; !errors.Is(err, quit) {
		t.Errorf("Run = %v, want the work's error", err)
	}
	select {
	case at := <-bLeads:
		if d := at.Sub(resigned); d > 5*time.Second {
			t.Errorf("standby led %v after the resignation, want well under the 10s session timeout", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the standby did not lead within 8s of the resignation (session timeout 10s)")
	}
}
