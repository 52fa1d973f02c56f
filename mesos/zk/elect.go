package zk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	gozk "github.com/go-zookeeper/zk"
)

// MemberLabel labels the ephemeral sequential znodes of an [Elector]'s
// candidates: "<path>/member_<sequence>".
const MemberLabel = "member"

// StateNode is the znode under an Elector's path that [Term.State] keeps
// the leader's state in.
const StateNode = "state"

// ErrNotLeader is returned by a [Term.State] Save after the term ended.
var ErrNotLeader = errors.New("zk: not the leader")

// Elector elects one leader among the processes that run it with the same
// URL.Path, the ZooKeeper leader-election recipe: every candidate creates
// an ephemeral, sequential member znode; the lowest sequence leads; each
// other candidate watches the member just below its own, so that one
// leaving wakes one candidate.
//
// A leader's term ends at once when its ZooKeeper connection is lost
// (disconnected, not only expired) or its member znode goes: the client
// notices a silent connection within two thirds of SessionTimeout
// (go-zookeeper's read timeout), while the server lets another candidate
// lead only after the session expired, at least SessionTimeout after it
// last heard from the leader. So an old leader stops at least a third of
// SessionTimeout before a new one starts, provided the work under the
// term stops within that margin when its context ends.
type Elector struct {
	// URL names the ensemble and the election's znode (e.g.
	// zk://h1:2181,h2:2181,h3:2181/webfarm/shop).
	URL URL
	// SessionTimeout is the ZooKeeper session timeout: how long a dead
	// leader holds the office before a standby takes over. If zero, 10s
	// is used.
	SessionTimeout time.Duration
	// ID is stored in the member znode, for operators (e.g. host:pid).
	ID string
	// Logger receives one line per election event. If nil, slog.Default()
	// is used.
	Logger *slog.Logger
}

// Term is one leader's time in office, given to the function
// [Elector.Run] calls.
type Term struct {
	conn *gozk.Conn
	url  URL
	node string // the leader's member znode
	ctx  context.Context
}

// Node returns the leader's member znode.
func (t *Term) Node() string { return t.node }

// State returns a store (it implements mesos.StateStore) that keeps data
// in the znode <path>/state. Save is fenced: it is one ZooKeeper
// transaction that also checks the leader's member znode still exists, so
// a leader whose session expired cannot overwrite its successor's state,
// and it fails with [ErrNotLeader] once the term has ended.
func (t *Term) State() *State { return &State{t: t} }

// State is the leader's state in ZooKeeper; see [Term.State].
type State struct{ t *Term }

func (s *State) path() string { return s.t.url.Path + "/" + StateNode }

// Load returns the state's data, or nil when none was saved.
func (s *State) Load(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, _, err := s.t.conn.Get(s.path())
	if errors.Is(err, gozk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("zk: get %s: %w", s.path(), err)
	}
	return b, nil
}

// Save replaces the state's data, if the term is still on.
func (s *State) Save(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.t.ctx.Err() != nil {
		return ErrNotLeader
	}
	fence := &gozk.CheckVersionRequest{Path: s.t.node, Version: 0}
	ok, _, err := s.t.conn.Exists(s.path())
	if err != nil {
		return fmt.Errorf("zk: exists %s: %w", s.path(), err)
	}
	var op any = &gozk.SetDataRequest{Path: s.path(), Data: data, Version: -1}
	if !ok {
		op = &gozk.CreateRequest{Path: s.path(), Data: data, Acl: s.t.url.acl()}
	}
	res, err := s.t.conn.Multi(fence, op)
	if err != nil {
		if len(res) > 0 && res[0].Error != nil {
			err = res[0].Error // the fence failed
		}
		if errors.Is(err, gozk.ErrNoNode) || errors.Is(err, gozk.ErrBadVersion) {
			return fmt.Errorf("%w: %s is gone: %w", ErrNotLeader, s.t.node, err)
		}
		return fmt.Errorf("zk: save %s: %w", s.path(), err)
	}
	return nil
}

func (e *Elector) defaults() (time.Duration, *slog.Logger) {
	st, log := e.SessionTimeout, e.Logger
	if st == 0 {
		st = 10 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return st, log.With("election", e.URL.String())
}

// Run campaigns until ctx ends. Each time this process is elected it
// calls lead with a context that ends as soon as the term does (ctx
// done, the ZooKeeper connection lost, the member znode gone), and waits
// for lead to return; then it closes the session (a standby takes over
// at once when the term ended here) and, if the term was lost, campaigns
// again with a new session. When lead returns while still in office, Run
// resigns and returns lead's error. Otherwise Run returns ctx's error.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context, t *Term) error) error {
	sessionTimeout, log := e.defaults()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		done, err := e.campaign(ctx, sessionTimeout, log, lead)
		if done {
			return err
		}
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			log.Warn("zk: campaign interrupted; campaigning again", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
	return ctx.Err()
}

// campaign runs one session: join, wait to lead, lead. done reports that
// Run must return err.
func (e *Elector) campaign(ctx context.Context, sessionTimeout time.Duration, log *slog.Logger,
	lead func(context.Context, *Term) error) (done bool, err error) {
	conn, events, err := connect(ctx, e.URL, sessionTimeout, log)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if err := ensurePath(conn, e.URL.Path, e.URL.acl()); err != nil {
		return false, err
	}
	node, err := conn.Create(e.URL.Path+"/"+MemberLabel+"_", []byte(e.ID), gozk.FlagEphemeral|gozk.FlagSequence, e.URL.acl())
	if err != nil {
		return false, fmt.Errorf("zk: join %s: %w", e.URL.Path, err)
	}
	name := node[len(e.URL.Path)+1:]
	log = log.With("member", name)
	log.Info("zk: candidate joined")
	for {
		prev, err := e.predecessor(conn, name)
		if err != nil {
			return false, err
		}
		if prev == "" {
			break
		}
		ok, _, watch, err := conn.ExistsW(e.URL.Path + "/" + prev)
		if err != nil {
			return false, fmt.Errorf("zk: watch %s: %w", prev, err)
		}
		if !ok {
			continue
		}
		log.Debug("zk: standing by", "behind", prev)
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-watch:
		case ev := <-events:
			if ev.State != gozk.StateHasSession && ev.Type == gozk.EventSession {
				return false, fmt.Errorf("zk: connection lost while standing by (%s)", ev.State)
			}
		}
	}

	// Elected: the term lasts until ctx ends, the connection is lost or
	// the member znode goes.
	termCtx, endTerm := context.WithCancelCause(ctx)
	defer endTerm(nil)
	ok, _, nodeWatch, err := conn.ExistsW(node)
	if err != nil || !ok {
		return false, fmt.Errorf("zk: own member %s: exists %v: %v", node, ok, err)
	}
	lost := errors.New("zk: leadership lost")
	go func() {
		for {
			select {
			case <-termCtx.Done():
				return
			case ev := <-nodeWatch:
				endTerm(fmt.Errorf("%w: member znode event %s", lost, ev.Type))
				return
			case ev := <-events:
				if ev.Type == gozk.EventSession && ev.State != gozk.StateHasSession {
					endTerm(fmt.Errorf("%w: connection %s", lost, ev.State))
					return
				}
			}
		}
	}()
	log.Info("zk: elected leader")
	err = lead(termCtx, &Term{conn: conn, url: e.URL, node: node, ctx: termCtx})
	cause := context.Cause(termCtx)
	switch {
	case ctx.Err() != nil:
		log.Info("zk: leader stepped down", "reason", ctx.Err())
		return true, ctx.Err()
	case errors.Is(cause, lost):
		log.Warn("zk: leadership lost; stopped leading", "reason", cause)
		return false, nil
	default:
		log.Info("zk: leader resigned", "err", err)
		return true, err
	}
}

// predecessor returns the member just below name, or "" when name is the
// lowest.
func (e *Elector) predecessor(conn *gozk.Conn, name string) (string, error) {
	children, _, err := conn.Children(e.URL.Path)
	if err != nil {
		return "", fmt.Errorf("zk: children of %s: %w", e.URL.Path, err)
	}
	prev := ""
	found := false
	for _, m := range members(children) {
		if m.label != MemberLabel {
			continue
		}
		if m.name == name {
			found = true
			break
		}
		prev = m.name
	}
	if !found {
		return "", fmt.Errorf("zk: own member %s is gone", name)
	}
	return prev, nil
}
