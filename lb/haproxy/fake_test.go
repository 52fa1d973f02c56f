package haproxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeAPI is an in-memory stand-in for client-native's runtime client: one
// backend whose servers follow HAProxy 2.6's rules (added in maintenance,
// deleted only in maintenance without connections), answering the `show`
// commands the driver sends in HAProxy's CSV. Knobs let a test inject the
// failures a real HAProxy produces rarely.
type fakeAPI struct {
	mu      sync.Mutex
	be      string
	order   []string
	servers map[string]*fakeServer
	pid     int
	start   int64
	reqTot  uint64
	qcur    int // the backend's own queue (requests with no server assigned)
	calls   []string

	// block, if set, makes every call wait until it is closed.
	block chan struct{}
	// failState makes `set server … state <key>` fail with the value.
	failState map[string]error
	// addTwice makes AddServer add the server and then answer "Already
	// exists", as when client-native re-sends it after an I/O error.
	addTwice bool
	// busyUntilShutdown makes del server answer "still has connections"
	// until `shutdown sessions server` runs.
	busyUntilShutdown bool
	// busyForever makes del server answer "still has connections" always,
	// as HAProxy does while idle pooled connections wait to be purged.
	busyForever bool
	// onBusy, if set, is called (without f.mu) when del server answers
	// "still has connections".
	onBusy func()
}

type fakeServer struct {
	addr   string
	status string
	qcur   int // requests waiting in this server's own queue
	scur   int
	reqTot uint64
	weight int
}

func newFake() *fakeAPI {
	return &fakeAPI{be: "webfarm", servers: map[string]*fakeServer{}, pid: 100, start: 1_795_900_000}
}

func (f *fakeAPI) wait() {
	f.mu.Lock()
	ch := f.block
	f.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (f *fakeAPI) log(format string, a ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeAPI) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeAPI) ExecuteRaw(cmd string) (string, error) {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out strings.Builder
	for c := range strings.SplitSeq(cmd, ";") {
		f.log("%s", c)
		fields := strings.Fields(c)
		switch {
		case c == "show info":
			fmt.Fprintf(&out, "Name: HAProxy\nVersion: 2.6.12-fake\nPid: %d\nStart_time_sec: %d\n\n", f.pid, f.start)
		case len(fields) == 5 && fields[0] == "show" && fields[1] == "stat":
			if fields[2] != f.be {
				out.WriteString("[3]: No such proxy.\n\n")
				continue
			}
			out.WriteString("# pxname,svname,qcur,scur,stot,status,weight,type,req_tot,addr,mode,algo,\n")
			if fields[3] == "4" || fields[3] == "6" {
				for _, name := range f.order {
					s := f.servers[name]
					fmt.Fprintf(&out, "%s,%s,%d,%d,%d,%s,%d,2,%d,%s,http,,\n", f.be, name, s.qcur, s.scur, s.reqTot, s.status, s.weight, s.reqTot, s.addr)
				}
			}
			if fields[3] != "4" {
				fmt.Fprintf(&out, "%s,BACKEND,%d,0,%d,UP,1,1,%d,,http,roundrobin,\n", f.be, f.qcur, f.reqTot, f.reqTot)
			}
			out.WriteString("\n")
		case strings.HasPrefix(c, "del server "+f.be+"/%"):
			out.WriteString("[3]: No such server.\n\n")
		case strings.HasPrefix(c, "add server "+f.be+"/%"):
			out.WriteString("[3]: character '%' is not permitted in server name.\n\n")
		case len(fields) == 4 && fields[0] == "shutdown" && fields[1] == "sessions":
			name := strings.TrimPrefix(fields[3], f.be+"/")
			if s, ok := f.servers[name]; ok {
				s.scur = 0
				f.busyUntilShutdown = false
			} else {
				out.WriteString("[3]: No such server.\n\n")
			}
		default:
			out.WriteString("[3]: Unknown command.\n\n")
		}
	}
	return strings.TrimSpace(out.String()), nil
}

func (f *fakeAPI) server(backend, name string) (*fakeServer, error) {
	if backend != f.be {
		return nil, errors.New("[3] No such backend.")
	}
	s, ok := f.servers[name]
	if !ok {
		return nil, errors.New("[3] No such server.")
	}
	return s, nil
}

func (f *fakeAPI) AddServer(backend, name, attributes string) error {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("add server %s/%s %s", backend, name, attributes)
	if _, err := f.server(backend, name); err == nil {
		return errors.New("[3] Already exists a server with the same name in backend.")
	}
	addr, _, _ := strings.Cut(attributes, " ")
	f.servers[name] = &fakeServer{addr: addr, status: "MAINT", weight: 1}
	f.order = append(f.order, name)
	if f.addTwice {
		return errors.New("[3] Already exists a server with the same name in backend.")
	}
	return nil
}

func (f *fakeAPI) DeleteServer(backend, name string) error {
	f.wait()
	f.mu.Lock()
	onBusy := f.onBusy
	err := f.deleteServer(backend, name)
	f.mu.Unlock()
	if onBusy != nil && err != nil && strings.Contains(err.Error(), msgBusy) {
		onBusy()
	}
	return err
}

func (f *fakeAPI) deleteServer(backend, name string) error {
	f.log("del server %s/%s", backend, name)
	s, err := f.server(backend, name)
	switch {
	case err != nil:
		return err
	case s.status != "MAINT":
		return errors.New("[3] Only servers in maintenance mode can be deleted.")
	case s.scur > 0 || f.busyUntilShutdown || f.busyForever:
		return errors.New("[3] Server still has connections attached to it, cannot remove it.")
	}
	delete(f.servers, name)
	f.order = slices.DeleteFunc(f.order, func(n string) bool { return n == name })
	return nil
}

func (f *fakeAPI) SetServerState(backend, server, state string) error {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("set server %s/%s state %s", backend, server, state)
	if err := f.failState[state]; err != nil {
		return err
	}
	s, err := f.server(backend, server)
	if err != nil {
		return err
	}
	s.status = map[string]string{"ready": "no check", "drain": "DRAIN", "maint": "MAINT"}[state]
	return nil
}

func (f *fakeAPI) SetServerWeight(backend, server, weight string) error {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("set server %s/%s weight %s", backend, server, weight)
	s, err := f.server(backend, server)
	if err != nil {
		return err
	}
	_, err = fmt.Sscan(weight, &s.weight)
	return err
}

func (f *fakeAPI) EnableServerHealth(backend, server string) error {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("enable health %s/%s", backend, server)
	_, err := f.server(backend, server)
	return err
}

// openFake returns a Balancer on f, opened as New opens one.
func openFake(t *testing.T, f *fakeAPI, cfg Config) *Balancer {
	t.Helper()
	cfg.Logger = quiet()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	b := newBalancer(cfg)
	b.api = f
	if _, err := b.open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}
