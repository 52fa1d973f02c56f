package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// agent is one emulated Mesos agent: a share of this host's resources and an
// executor API endpoint on 127.0.0.1.
type agent struct {
	id       string
	index    int
	hostname string
	ports    PortRange
	total    mesos.Resources
	free     mesos.Resources // neither offered nor used
	// held are ports of the agent's range that were busy on 127.0.0.1
	// (something outside the cluster holds them) at its last offer: kept
	// out of offers and of free, and probed again at the next offer.
	held     mesos.Resources
	stopped  bool
	srv      *http.Server
	endpoint string // host:port of the executor API
}

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

func portsResource(b, e uint64) mesos.Resource {
	return mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: b, End: e}}}}
}

func (c *Cluster) startAgent(ctx context.Context, i int, id string) (*agent, error) {
	pr := agentPorts(c.cfg.Ports, i, c.cfg.Agents)
	a := &agent{
		id:       id,
		index:    i,
		hostname: c.cfg.Hostname,
		ports:    pr,
		total: mesos.Resources{
			scalar("cpus", c.cfg.CPUs),
			scalar("mem", c.cfg.Mem),
			portsResource(pr.Begin, pr.End),
		},
	}
	a.free = a.total.Clone()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("agent %d: listen: %w", i, err)
	}
	a.endpoint = ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc(ExecutorPath, func(w http.ResponseWriter, r *http.Request) { c.serveExecutor(a, w, r) })
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("agent server stopped", "agent", a.id, "err", err)
		}
	}()
	return a, nil
}

func (a *agent) info() mesos.AgentInfo {
	_, port := splitHostPort(a.endpoint)
	p := int32(port)
	return mesos.AgentInfo{Hostname: a.hostname, Port: &p, Resources: a.total.Clone(), ID: &mesos.AgentID{Value: a.id}}
}

func splitHostPort(s string) (string, int) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return s, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// offer is an outstanding offer of one agent's resources to one framework.
type offer struct {
	id        string
	fw        *framework
	agent     *agent
	role      string // the role the offer is allocated to
	resources mesos.Resources
}

// allocatable mirrors the master's minimum: 0.01 cpus or 32 MiB of memory.
func allocatable(rs mesos.Resources) bool {
	var cpus, mem float64
	for _, r := range rs {
		switch r.Name {
		case "cpus":
			cpus += r.GetScalar().GetValue()
		case "mem":
			mem += r.GetScalar().GetValue()
		}
	}
	return cpus >= 0.01 || mem >= 32
}

func (c *Cluster) allocatorLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.AllocationInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.wake:
		}
		c.allocate(time.Now())
	}
}

// removeOffer takes an offer back; its resources return to the agent.
func (c *Cluster) removeOffer(o *offer, rescind bool) {
	delete(c.offers, o.id)
	if !o.agent.stopped {
		o.agent.free.Add(o.resources...)
	}
	if rescind {
		o.fw.send(&scheduler.Event{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: o.id}}})
	}
}

// rescindOffersOf rescinds every outstanding offer of a framework.
func (c *Cluster) rescindOffersOf(fw *framework) {
	for _, o := range c.offers {
		if o.fw == fw {
			c.removeOffer(o, true)
		}
	}
}

// discardOffersOf removes every outstanding offer of a framework without
// RESCIND events, as Master::_failoverFramework and Master::removeFramework
// do.
func (c *Cluster) discardOffersOf(fw *framework) {
	for _, o := range c.offers {
		if o.fw == fw {
			c.removeOffer(o, false)
		}
	}
}
