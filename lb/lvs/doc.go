// Package lvs is an [lb.Balancer] driver for the Linux Virtual Server:
// the kernel's IPVS load balancer, programmed over generic netlink with
// github.com/moby/ipvs.
//
// One [Balancer] manages one virtual service: a TCP, UDP or SCTP address
// and port, or a firewall mark, with a scheduler (rr, wrr, lc, wlc, …).
// Backends are IPVS real servers, each with a forwarding method: NAT
// (masquerading), direct routing or IP-in-IP tunnel.
//
//	b, err := lvs.New(ctx, lvs.Config{
//		Service: lvs.Service{Addr: netip.MustParseAddrPort("10.0.0.1:80"), Scheduler: "wrr"},
//		ReapInterval: time.Second, // remove drained servers once idle
//	})
//	if err != nil { ... } // "lvs: kernel has no IPVS: load ip_vs ..."
//	defer b.Close()
//	err = b.Add(ctx, lb.Backend{ID: "web-1", Addr: netip.MustParseAddrPort("10.0.1.5:8080")})
//	err = b.Drain(ctx, "web-1") // weight 0: no new connections, open ones go on
//
// # Contract
//
// [Balancer] implements [lb.Balancer], [lb.ConnCounter] (established
// connections per real server, live), [lb.Weighter], [lb.Resumer]
// (restores the weight from before Drain) and io.Closer, and passes
// lbtest.Run against a real kernel. Beyond the lb contract:
//
//   - Drain sets the weight to 0 (IPVS's quiescing). [Balancer.Reap], or
//     Config.ReapInterval in the background, removes drained servers once
//     their active connections reach 0; Remove deletes at once.
//   - The kernel is the source of truth. New creates the service when it
//     is missing and adopts it, and its real servers, when it exists; an
//     adopted server's ID is its address until Add names it. Close leaves
//     the service serving unless Config.DeleteOnClose is set.
//   - Stats counts connections (Requests) from the kernel's counters,
//     which it folds in every 2 s: readings lag by up to 2 s.
//     [Balancer.ServiceStats] adds packets, bytes and the kernel's rate
//     estimates. moby/ipvs reads 32-bit counters; the driver extends them
//     to 64 bits across wraps (see counters.go).
//   - Config.Namespace works in another network namespace (a path such
//     as /var/run/netns/lb).
//   - Many services, one read: [ReadAll] reads the Balancers of one
//     kernel in one pass over one netlink socket (one dump of every
//     virtual service with its counters, then each service's real
//     servers: the kernel dumps real servers per service only), and a
//     [Group] shares that read among one controller per service, so that
//     N services cost one pass per round ([Group.Member] stands in for the
//     Balancer where Stats is read). A service deleted outside the driver
//     fails its own member; the others read on.
//
// # Requirements and errors
//
// The kernel needs IPVS (CONFIG_IP_VS; modprobe ip_vs) and the scheduler's
// module (ip_vs_rr, ip_vs_wrr, …); the caller needs CAP_NET_ADMIN. Without
// IPVS, moby/ipvs's writes succeed and do nothing, so New probes
// /proc/net/ip_vs and reads its service back, and fails with "lvs: kernel
// has no IPVS: load ip_vs" (wrapping [lb.ErrUnsupported]). A missing
// scheduler module also wraps lb.ErrUnsupported and names the module; a
// scheduler name that is not one of [Schedulers] (a typo) wraps
// [lb.ErrInvalid] instead. Without CAP_NET_ADMIN errors say so, and
// errors.Is(err, os.ErrPermission) holds. Bad addresses (0.0.0.0,
// 255.255.255.255, multicast), ports, weights and forwarding methods wrap
// [lb.ErrInvalid] before anything is changed. A tunnel real server of the
// other address family than the service's wraps lb.ErrUnsupported:
// moby/ipvs v1.1.0 does not send the destination's address family, and the
// kernel would store a wrong address.
//
// A virtual service deleted outside the driver (ipvsadm -D) is not read as
// an empty pool: the call that finds it gone (Backends, Stats, Add, Drain,
// Remove, …) creates it again, empty, and returns an error wrapping
// [ErrServiceGone]; the backends must then be added again, which the mesos
// scheduler's pool repair does at its next read of the pool.
//
// Every netlink exchange is bounded by Config.Timeout: moby/ipvs retries
// a timed-out receive forever, so the driver abandons such a call, closes
// its socket and opens another. moby/ipvs logs through the global logrus
// logger during its one-time setup; the driver catches those lines and
// logs them at debug level through Config.Logger.
//
// # Tests
//
// The tests run against a real kernel. On a host whose kernel has IPVS
// (and as root) they run directly, each in a network namespace of its
// own. Elsewhere TestKernel downloads a Debian cloud kernel once (into
// $HOME/.cache/webfarm; see testdata/kernel.sh), builds this package's
// tests as a static binary, boots the kernel under qemu with the IPVS
// modules and busybox in an initramfs, runs the same tests there as root,
// streams their output into the test log and fails with their failures.
// The traffic test puts a VIP on lo, NATs it to HTTP servers on
// 127.0.0.1 and drains and removes a server under keep-alive load,
// checking that no request fails and no connection is reset.
package lvs
