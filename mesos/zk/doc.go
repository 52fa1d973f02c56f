// Package zk is webfarm's ZooKeeper side: finding the leading Mesos
// master, and electing one leader among several webfarm schedulers.
// It uses github.com/go-zookeeper/zk.
//
// # Master discovery
//
// Production Mesos clusters run three or five masters and publish the
// leader in ZooKeeper; frameworks are given
// zk://host1:2181,host2:2181,host3:2181/mesos. Give the same URL as the
// only entry of mesos.Config.Masters (or to mesos.ParseMasters) and the
// scheduler reads the leader with a [Detector] and follows every change
// through ZooKeeper watches, dropping its subscription to the old master
// and subscribing to the new one, as Mesos's own scheduler library does.
// A [Detector] reads the group as Mesos's ZooKeeperMasterDetector does
// (src/master/detector/zookeeper.cpp, src/zookeeper/detector.cpp,
// src/zookeeper/group.cpp): members are the children "<label>_<sequence>",
// the lowest sequence leads, its label must be "json.info" and its data
// MasterInfo as JSON. [Contend] joins a group as a Mesos master does, and
// [Publish] registers a set of masters (mesos/local's *Cluster) and moves
// the lowest sequence on every failover, so that the whole path runs in
// tests against a real ZooKeeper.
//
// # A highly available scheduler
//
// Run the same program on two or three hosts. Each runs an [Elector] on
// the same path; the one elected builds its mesos.Scheduler with its
// state in ZooKeeper ([Term.State]) and runs it until its term ends:
//
//	u, _ := zk.ParseURL("zk://zk1:2181,zk2:2181,zk3:2181/webfarm/shop")
//	el := &zk.Elector{URL: u, SessionTimeout: 10 * time.Second, ID: hostname}
//	err := el.Run(ctx, func(ctx context.Context, term *zk.Term) error {
//		cfg.State = term.State() // framework ID, counts, tasks
//		sched, err := mesos.New(ctx, cfg)
//		if err != nil {
//			return err
//		}
//		ctl := &scaler.Controller{Balancer: cfg.Balancer, Policy: policy, Runner: sched}
//		go ctl.Run(ctx)
//		return sched.Run(ctx) // until the term ends
//	})
//
// A standby does nothing but wait behind the leader's member znode. When
// the leader dies its session expires after SessionTimeout and the next
// candidate is elected; it re-subscribes with the same FrameworkID (read
// from ZooKeeper; FailoverTimeout must exceed SessionTimeout), adopts
// the running tasks through reconciliation and the balancer's pool, and
// converges to the desired count the leader saved, so a scale-down cut
// short by the leader's death is completed.
//
// No split brain: a leader's term, and the context its work runs under,
// ends as soon as its ZooKeeper connection is lost, within two thirds of
// SessionTimeout of the last word from the server, while the server lets
// a standby lead only after the session expired, a full SessionTimeout
// after it last heard from the leader. The state is saved with a fenced
// transaction (it checks the leader's member znode), so a deposed leader
// cannot overwrite its successor's state; and Mesos itself fails over the
// old leader's subscription when the new one subscribes as the same
// framework.
//
// Measured here (BenchmarkTakeover, mesos/local and a real ZooKeeper,
// SessionTimeout 1.5 s): the standby was elected a median 1.38 s after the
// leader died and re-subscribed 10 ms later. Under 200 req/s through a
// real HAProxy, with the leader killed while two drains of a 3 → 1
// scale-down were open (TestChaosKillLeaderMidScaleDown), the standby
// finished the scale-down and no request failed (0 of 531 during the
// takeover and drains).
package zk
