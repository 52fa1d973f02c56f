// Package proxy is a third-party-style [lb.Balancer] driver: a small HTTP
// reverse proxy that runs inside your process. It shows what a driver
// author writes to plug a balancer of their own into webfarm, and it passes
// the conformance suite, [lbtest.Run].
//
// The Balancer is an [http.Handler]: serve it, and let the scaler and the
// scheduler change its pool.
//
//	b, err := proxy.New(ctx, proxy.Config{})
//	if err != nil { … }
//	defer b.Close()
//	go http.Serve(ln, b) // ln listening on 127.0.0.1
//	_ = b.Add(ctx, lb.Backend{ID: "web-1", Addr: netip.MustParseAddrPort("127.0.0.1:31001")})
//	ctl := &scaler.Controller{Balancer: b, Policy: policy, Runner: sched}
//
// What it implements:
//   - required: [lb.Balancer]. Stats counts requests the proxy accepted
//     (Requests), in flight (Active) and per backend; Queued is always 0
//     (it never queues). Add, Drain and Remove change the pool at once;
//     a draining backend gets no new requests, and its requests in flight
//     finish. Remove does not cut requests in flight either.
//   - optional: [lb.ConnCounter] (requests in flight to a backend, so a
//     drained backend is removed as soon as it is idle) and [lb.Weighter]
//     (smooth weighted round robin, weights 0–256; 0 sends no new requests).
//   - [io.Closer]: after Close every method returns an error wrapping
//     [lb.ErrClosed] and the handler answers 503.
//
// Requests with no ready backend get 503; a backend that cannot be reached
// gives 502 (the proxy does not retry: requests may not be idempotent).
//
// All methods are safe for concurrent use. None does I/O, so each checks
// its context once, at the start.
package proxy
