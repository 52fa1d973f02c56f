package zk

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	gozk "github.com/go-zookeeper/zk"
)

// Contend joins the group at u.Path as a Mesos master does
// (src/master/contender/zookeeper.cpp, ZooKeeperMasterContenderProcess::
// contend; src/zookeeper/group.cpp, GroupProcess::doJoin): in its own
// session it creates the ephemeral, sequential znode
// "<path>/json.info_<sequence>" holding info as JSON, creating the path
// first if it is missing. The member leaves when withdraw is called (its
// session is closed, so the znode goes at once) or when ctx ends; the
// master with the lowest sequence leads.
func Contend(ctx context.Context, u URL, info MasterInfo, sessionTimeout time.Duration, log *slog.Logger) (node string, withdraw func(), err error) {
	if log == nil {
		log = slog.Default()
	}
	if sessionTimeout == 0 {
		sessionTimeout = 10 * time.Second
	}
	data, err := json.Marshal(info)
	if err != nil {
		return "", nil, fmt.Errorf("zk: MasterInfo: %w", err)
	}
	conn, _, err := connect(ctx, u, sessionTimeout, log)
	if err != nil {
		return "", nil, err
	}
	if err := ensurePath(conn, u.Path, u.acl()); err != nil {
		conn.Close()
		return "", nil, err
	}
	node, err = conn.Create(u.Path+"/"+MasterInfoLabel+"_", data, gozk.FlagEphemeral|gozk.FlagSequence, u.acl())
	if err != nil {
		conn.Close()
		return "", nil, fmt.Errorf("zk: create %s/%s_: %w", u.Path, MasterInfoLabel, err)
	}
	stop := context.AfterFunc(ctx, conn.Close)
	var once sync.Once
	return node, func() { once.Do(func() { stop(); conn.Close() }) }, nil
}

// Masters is what [Publish] reads of a set of masters: their addresses
// and which one leads. mesos/local's *Cluster has both methods.
type Masters interface {
	// URLs returns every master's URL ("http://host:port"), leader or not.
	URLs() []string
	// URL returns the leading master's URL.
	URL() string
}

// Publisher keeps a set of masters registered in ZooKeeper. See [Publish].
type Publisher struct {
	url    URL
	ms     Masters
	log    *slog.Logger
	ttl    time.Duration
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	members map[string]membership // by master URL
	err     error
}

type membership struct {
	node     string
	withdraw func()
}

// Publish registers each of ms's masters in ZooKeeper as a real master
// would ([Contend], one session each), the leader first, and follows its
// leadership: when ms's leader changes (for mesos/local, at
// FailoverMaster), the old leader's membership is withdrawn and it
// contends again, so the new leader holds the lowest sequence, as when a
// Mesos master abdicates and rejoins. It polls ms.URL every 10 ms until
// Close.
func Publish(ctx context.Context, u URL, ms Masters, log *slog.Logger) (*Publisher, error) {
	if log == nil {
		log = slog.Default()
	}
	p := &Publisher{url: u, ms: ms, log: log, ttl: 4 * time.Second, done: make(chan struct{}), members: make(map[string]membership)}
	urls := ms.URLs()
	lead := ms.URL()
	start := 0
	for i, m := range urls {
		if m == lead {
			start = i
		}
	}
	for i := range urls {
		if err := p.join(ctx, urls[(start+i)%len(urls)]); err != nil {
			p.withdrawAll()
			return nil, err
		}
	}
	ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go p.follow(ctx)
	return p, nil
}

func (p *Publisher) join(ctx context.Context, master string) error {
	mu, err := url.Parse(master)
	if err != nil {
		return fmt.Errorf("zk: master URL %q: %w", master, ErrInvalid)
	}
	info, err := NewMasterInfo(master, mu.Host)
	if err != nil {
		return err
	}
	node, withdraw, err := Contend(ctx, p.url, info, p.ttl, p.log)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.members[master] = membership{node: node, withdraw: withdraw}
	p.mu.Unlock()
	return nil
}

// follow re-contends with the lowest members until the leader of ms owns
// the lowest sequence.
func (p *Publisher) follow(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lead := p.ms.URL()
		for ctx.Err() == nil {
			first, owner := p.lowest()
			if first == "" || owner == lead {
				break
			}
			p.mu.Lock()
			m := p.members[owner]
			delete(p.members, owner)
			p.mu.Unlock()
			m.withdraw()
			if err := p.join(ctx, owner); err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				p.log.Error("zk: cannot re-register a master", "master", owner, "err", err)
				return
			}
		}
	}
}

// lowest returns the lowest of the publisher's own members and its
// master.
func (p *Publisher) lowest() (node, master string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best member
	for url, m := range p.members {
		ms := members([]string{m.node[strings.LastIndexByte(m.node, '/')+1:]})
		if len(ms) == 1 && (node == "" || ms[0].seq < best.seq) {
			best, node, master = ms[0], m.node, url
		}
	}
	return node, master
}

// Err returns the error that stopped the publisher following, if any.
func (p *Publisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Publisher) withdrawAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, m := range p.members {
		m.withdraw()
		delete(p.members, k)
	}
}

// Close withdraws every master and stops following.
func (p *Publisher) Close() error {
	p.cancel()
	<-p.done
	p.withdrawAll()
	return nil
}
