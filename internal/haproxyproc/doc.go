// Package haproxyproc runs Debian's haproxy (/usr/sbin/haproxy, 2.6) on
// 127.0.0.1 for webfarm's tests, benchmarks and demo. It writes a
// haproxy.cfg into a directory, starts the process in the foreground (so it
// is our child and cannot be left behind), and waits until its admin stats
// socket answers.
//
//	p, err := haproxyproc.Start(ctx, haproxyproc.Config{}) // free loopback port, backend "webfarm"
//	if err != nil { ... }
//	defer p.Stop()
//	b, err := haproxy.New(ctx, haproxy.Config{Socket: p.Socket(), Backend: p.Backend()})
//	url := "http://" + p.FrontendAddr().String() + "/"
//
// In tests, [StartTest] does the same and stops the process in t.Cleanup.
//
// # The configuration a webfarm user needs
//
// [Render] produces it; this is the shape (Config's defaults filled in):
//
//	global
//	    # the runtime API: level admin is required for add/del server;
//	    # mode 600 keeps other local users out of it
//	    stats socket /run/haproxy/admin.sock mode 600 level admin
//	    stats timeout 30s
//	    hard-stop-after 15s          # bounds an old process after a reload
//	    maxconn 4096
//
//	defaults
//	    mode http
//	    timeout connect 5s
//	    timeout client  30s
//	    timeout server  30s
//	    timeout http-keep-alive 10s
//
//	frontend http-in
//	    bind 127.0.0.1:8080
//	    # on a soft stop (reload) close idle keep-alive clients only after
//	    # their next response, so no client races a closing connection
//	    option idle-close-on-response
//	    default_backend webfarm
//
//	backend webfarm
//	    # a dynamic algorithm: roundrobin, leastconn, random, first, or a
//	    # hash with "hash-type consistent"; static-rr cannot take add server
//	    balance roundrobin
//	    # re-dispatch a request whose connect failed to another server
//	    retries 3
//	    option redispatch
//	    # no server lines: the driver (lb/haproxy) adds them at run time
//
// No `server` line is needed: lb/haproxy adds each web server with the
// runtime API (add server … pool-max-conn -1 pool-purge-delay 5s, then
// state ready), drains it, and deletes it once it has no connections.
// Servers added at run time live in the running process only: a restart
// or a reload loses them, unless the driver keeps them in the file too
// (lb/haproxy Config.ConfigFile = [Proc.ConfigPath]): it then writes the
// pool between "# webfarm: servers begin" and "# webfarm: servers end"
// lines at the end of the backend section, and [Proc.Restart] and
// [Proc.Reload] start the new process from that file on disk.
// [Start] and [Proc.SetServers] render the file afresh and overwrite
// what the driver wrote: do not mix SetServers (the old way) with the
// driver's ConfigFile.
//
// # Processes
//
// Without MasterWorker, haproxy runs as `haproxy -db -f haproxy.cfg`; a
// [Proc.Restart] starts a new process with `-sf <old pid>` (the "old way"
// of changing a pool: the old process finishes its connections and exits).
// With MasterWorker, haproxy runs as `haproxy -W -db`, and [Proc.Reload]
// sends SIGUSR2 to the master, which starts a new worker.
//
// Every process started is in its own process group, gets SIGKILL if the
// Go process that started it dies (Pdeathsig), and is killed by [Proc.Stop].
package haproxyproc
