package mesos

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/webfarm/webfarm/mesos/zk"
)

// leader tracks the master the scheduler talks to. mesos-go follows a 307
// only for the SUBSCRIBE that received it and keeps sending later calls
// to the first URL; leader instead sends every request to the current
// leader, learns a new one from each 307's Location, and moves to the next
// configured master when one cannot be reached.
type leader struct {
	log *slog.Logger

	// zk finds the leader when Masters is a zk:// URL (zkmasters.go);
	// masters is empty then and cur nil until a leader is detected.
	zk *zkLeader

	mu      sync.Mutex
	masters []*url.URL
	next    int      // index into masters of the candidate after cur
	cur     *url.URL // where requests go
}

func newLeader(masters []string, log *slog.Logger) (*leader, error) {
	l := &leader{log: log}
	if len(masters) == 1 && zk.IsURL(masters[0]) {
		return l, l.useZK(masters[0])
	}
	for _, m := range masters {
		u, err := endpointURL(m)
		if err != nil {
			return nil, err
		}
		l.masters = append(l.masters, u)
	}
	l.cur = l.masters[0]
	l.next = 1 % len(l.masters)
	return l, nil
}

// URL returns the current leader's scheduler endpoint.
func (l *leader) URL() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return ""
	}
	return l.cur.String()
}

// redirect records the master a 307 points to. Location is
// protocol-relative ("//host:port/api/v1/scheduler") or absolute.
func (l *leader) redirect(loc string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ref, err := url.Parse(loc)
	if err != nil || ref.Host == "" {
		return false
	}
	if l.cur == nil {
		return false
	}
	u := l.cur.ResolveReference(ref)
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	u.Path = schedulerPath
	if u.String() != l.cur.String() {
		l.log.Info("mesos: following leading master", "from", l.cur.String(), "to", u.String())
	}
	l.cur = u
	return true
}

// unreachable moves to the next configured master after failed reached
// nothing.
func (l *leader) unreachable(failed string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil || l.cur.String() != failed || len(l.masters) == 0 {
		return // someone moved on already, or ZooKeeper says where to go
	}
	l.cur = l.masters[l.next]
	l.next = (l.next + 1) % len(l.masters)
	if l.cur.String() != failed {
		l.log.Info("mesos: master unreachable, trying the next one", "failed", failed, "next", l.cur.String())
	}
}

// wrap is an httpcli.DoFunc decorator that aims every request at the
// current leader and learns from its answers.
func (l *leader) wrap(do httpcli.DoFunc) httpcli.DoFunc {
	return func(req *http.Request) (*http.Response, error) {
		l.mu.Lock()
		target := l.cur
		l.mu.Unlock()
		if target == nil {
			return nil, errNoLeader
		}
		u := *req.URL
		u.Scheme, u.Host, u.Path, u.RawPath = target.Scheme, target.Host, target.Path, ""
		req.URL = &u
		req.Host = u.Host
		res, err := do(req)
		if err != nil {
			if req.Context().Err() == nil && !errors.Is(err, context.Canceled) {
				l.unreachable(target.String())
			}
			return res, err
		}
		if res.StatusCode == http.StatusTemporaryRedirect {
			l.redirect(res.Header.Get("Location"))
		}
		return res, nil
	}
}

// newCaller builds the mesos-go caller stack: an httpcli client aimed by l,
// with TLS, basic auth, timeouts and event streams behind streamGuard, httpsched's subscription state
// machine, and callrules.WithFrameworkID so every call but SUBSCRIBE
// carries the framework ID.
//
// closeIdle closes the client's idle connections: after a lost
// subscription they may lead into a partition, and a SUBSCRIBE sent on one
// would hang until RequestTimeout.
func newCaller(c *Config, l *leader, frameworkID func() string) (caller calls.Caller, closeIdle func()) {
	var tr *http.Transport
	opts := []httpcli.ConfigOpt{
		httpcli.Timeout(c.RequestTimeout),
		httpcli.Transport(func(t *http.Transport) { tr = t }),
		httpcli.WrapRoundTripper(func(rt http.RoundTripper) http.RoundTripper {
			return streamGuard{next: rt, log: c.Logger}
		}),
	}
	if c.TLS != nil {
		opts = append(opts, httpcli.TLSConfig(c.TLS.Clone()))
	}
	if c.Principal != "" && c.Secret != "" {
		opts = append(opts, httpcli.BasicAuth(c.Principal, c.Secret))
	}
	codec := codecs.ByMediaType[codecs.MediaTypeProtobuf]
	if c.Codec == "json" {
		codec = codecs.ByMediaType[codecs.MediaTypeJSON]
	}
	cli := httpcli.New(
		httpcli.Endpoint(cmpOr(l.URL(), "http://leader.invalid"+schedulerPath)), // wrap aims every request
		httpcli.Codec(codec),
		httpcli.Do(l.wrap(httpcli.With(opts...))),
	)
	sched := httpsched.NewCaller(cli,
		// Errors other than a 307 come straight back; the scheduler's own
		// backoff and leader tracking decide what happens next.
		httpsched.EndpointCandidates(func() string { return "" }),
		httpsched.MaxRedirects(len(c.Masters)+3),
		httpsched.AllowReconnection(true),
	)
	return callrules.New(callrules.WithFrameworkID(frameworkID)).Caller(sched), tr.CloseIdleConnections
}
