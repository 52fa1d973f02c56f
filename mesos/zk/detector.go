package zk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gozk "github.com/go-zookeeper/zk"
)

// Detector finds the leading Mesos master in ZooKeeper, as Mesos's
// ZooKeeperMasterDetector does (src/master/detector/zookeeper.cpp with
// src/zookeeper/detector.cpp): the leader is the member of the group
// under URL.Path with the lowest sequence number; its znode's label must
// be json.info and its data MasterInfo as JSON. It watches the group and
// reports every change of leader.
type Detector struct {
	url  URL
	opts DetectorOptions

	mu      sync.Mutex
	known   bool // set has run once
	leader  *MasterInfo
	changed chan struct{} // closed and replaced at every change
}

// DetectorOptions configures a [Detector]. The zero value is valid.
type DetectorOptions struct {
	// SessionTimeout is the ZooKeeper session timeout asked for. If zero,
	// 10s is used (Mesos's default --zk_session_timeout).
	SessionTimeout time.Duration
	// OnChange, if set, is called (from the detector's goroutine) with the
	// new leader's address "host:port", or "" when no master leads.
	OnChange func(hostPort string)
	// Logger receives one line per leader change and per ZooKeeper error.
	// If nil, slog.Default() is used.
	Logger *slog.Logger
}

// NewDetector returns a detector for u; it does nothing until Run.
func NewDetector(u URL, opts DetectorOptions) *Detector {
	if opts.SessionTimeout == 0 {
		opts.SessionTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Detector{url: u, opts: opts, changed: make(chan struct{})}
}

// Leader returns the leading master, if one is known.
func (d *Detector) Leader() (MasterInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.leader == nil {
		return MasterInfo{}, false
	}
	return *d.leader, true
}

// Changed returns a channel closed at the next change of leader.
func (d *Detector) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}

func (d *Detector) set(m *MasterInfo) {
	d.mu.Lock()
	old := d.leader
	same := d.known && (old == nil) == (m == nil) && (m == nil || old.ID == m.ID)
	d.known = true
	if !same {
		d.leader = m
		close(d.changed)
		d.changed = make(chan struct{})
	}
	d.mu.Unlock()
	if same {
		return
	}
	hp := ""
	if m != nil {
		hp, _ = m.HostPort()
		d.opts.Logger.Info("zk: detected a new leading master", "master", hp, "id", m.ID, "zk", d.url.String())
	} else {
		d.opts.Logger.Warn("zk: no leading master", "zk", d.url.String())
	}
	if d.opts.OnChange != nil {
		d.opts.OnChange(hp)
	}
}

// Run connects to ZooKeeper and follows the leader until ctx ends, then
// returns ctx's error. Connection losses are retried with backoff; the
// last known leader is kept meanwhile.
func (d *Detector) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := d.session(ctx)
		if ctx.Err() != nil {
			break
		}
		d.opts.Logger.Warn("zk: master detection interrupted; retrying", "zk", d.url.String(), "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return ctx.Err()
}

// session runs one ZooKeeper session: it reads the group, then waits for
// a watch to fire and reads it again.
func (d *Detector) session(ctx context.Context) error {
	conn, events, err := connect(ctx, d.url, d.opts.SessionTimeout, d.opts.Logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		watch, err := d.detect(conn)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-watch:
			if ev.Err != nil {
				return fmt.Errorf("zk: watch %s: %w", d.url.Path, ev.Err)
			}
		case ev := <-events:
			if ev.State == gozk.StateExpired {
				return fmt.Errorf("zk: session expired")
			}
		}
	}
}

// detect reads the group once and returns a watch that fires at its next
// change.
func (d *Detector) detect(conn *gozk.Conn) (<-chan gozk.Event, error) {
	children, _, watch, err := conn.ChildrenW(d.url.Path)
	if errors.Is(err, gozk.ErrNoNode) {
		// No master has created the group yet: wait for it.
		ok, _, w, err := conn.ExistsW(d.url.Path)
		if err != nil {
			return nil, fmt.Errorf("zk: exists %s: %w", d.url.Path, err)
		}
		if !ok {
			d.set(nil)
			return w, nil
		}
		return d.detect(conn)
	}
	if err != nil {
		return nil, fmt.Errorf("zk: children of %s: %w", d.url.Path, err)
	}
	ms := members(children)
	if len(ms) == 0 {
		d.set(nil)
		return watch, nil
	}
	lead := ms[0]
	if lead.label != MasterInfoLabel {
		d.set(nil)
		return watch, fmt.Errorf("zk: leader znode %s/%s: label %q, want %q (a Mesos older than 0.24 or not a Mesos group)",
			d.url.Path, lead.name, lead.label, MasterInfoLabel)
	}
	data, _, err := conn.Get(d.url.Path + "/" + lead.name)
	if errors.Is(err, gozk.ErrNoNode) {
		return d.detect(conn) // it left meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("zk: get %s/%s: %w", d.url.Path, lead.name, err)
	}
	m, err := parseMasterInfo(data)
	if err != nil {
		d.set(nil)
		return watch, fmt.Errorf("zk: leader znode %s/%s: %w", d.url.Path, lead.name, err)
	}
	d.set(&m)
	return watch, nil
}
