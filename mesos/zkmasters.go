package mesos

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/webfarm/webfarm/mesos/zk"
)

// errNoLeader is what a call gets while ZooKeeper names no leading master;
// the scheduler retries with its backoff.
var errNoLeader = errors.New("mesos: no leading master in ZooKeeper")

// zkLeader is the leader's ZooKeeper side: a detector whose changes move
// leader.cur and drop the subscription to the old master.
type zkLeader struct {
	url      zk.URL
	detector *zk.Detector
	// scheme is the masters' URL scheme: "https" when Config.TLS is set,
	// as Mesos's scheduler library picks https when SSL is enabled
	// (src/scheduler/scheduler.cpp, MesosProcess::detected).
	scheme string
	// moved is called after the leader changed (set by the Scheduler: it
	// drops the subscription, as Mesos's scheduler library disconnects on
	// every detection, src/scheduler/scheduler.cpp MesosProcess::detected).
	moved func()
}

// validateZK checks a zk:// entry of Masters: it must be the only one and
// parse.
func validateZK(masters []string, i int) error {
	if len(masters) != 1 {
		return fmt.Errorf("mesos: Masters[%d] %q: a zk:// URL must be the only entry: %w", i, zk.Redact(masters[i]), ErrInvalid)
	}
	if _, err := zk.ParseURL(masters[i]); err != nil {
		return fmt.Errorf("mesos: Masters[%d]: %w: %w", i, err, ErrInvalid)
	}
	return nil
}

// redactMasters returns masters with the passwords of zk:// URLs hidden.
func redactMasters(masters []string) []string {
	out := make([]string, len(masters))
	for i, m := range masters {
		out[i] = zk.Redact(m)
	}
	return out
}

// useZK makes l follow the leader published in ZooKeeper at raw.
func (l *leader) useZK(raw string) error {
	u, err := zk.ParseURL(raw)
	if err != nil {
		return fmt.Errorf("mesos: Masters[0]: %w: %w", err, ErrInvalid)
	}
	z := &zkLeader{url: u, scheme: "http"}
	z.detector = zk.NewDetector(u, zk.DetectorOptions{Logger: l.log, OnChange: l.detected})
	l.zk = z
	return nil
}

// detected moves l to the master ZooKeeper names ("" for none).
func (l *leader) detected(hostPort string) {
	l.mu.Lock()
	var next *url.URL
	if hostPort != "" {
		next = &url.URL{Scheme: l.zk.scheme, Host: hostPort, Path: schedulerPath}
	}
	changed := (next == nil) != (l.cur == nil) || (next != nil && next.String() != l.cur.String())
	l.cur = next
	moved := l.zk.moved
	l.mu.Unlock()
	if changed && moved != nil {
		moved()
	}
}

// runZK runs the detector until ctx ends, when Masters is a zk:// URL.
func (s *Scheduler) runZK(ctx context.Context) {
	if s.leader.zk == nil {
		return
	}
	s.leader.mu.Lock()
	s.leader.zk.moved = s.dropSubscription
	if s.cfg.TLS != nil {
		s.leader.zk.scheme = "https"
	}
	s.leader.mu.Unlock()
	s.leader.zk.detector.Run(ctx)
}

// dropSubscription ends the current subscription, if any; the scheduler
// re-subscribes (to the new leader) with its usual backoff.
func (s *Scheduler) dropSubscription() {
	s.mu.Lock()
	cancel := s.subCancel
	s.mu.Unlock()
	if cancel != nil {
		s.log.Info("mesos: leading master changed; re-subscribing", "master", s.leader.URL())
		cancel()
	}
}
