package main

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseFlags feeds the command's flag parser any argument list (the
// fuzz input split at newlines): no panic, and an accepted list names
// exactly one virtual service (an address or a firewall mark), real
// servers that parsed as addresses, and either a pool or Mesos masters
// with a task command. (Ports, unspecified and multicast addresses are
// checked by lvs.New and Add, before anything reaches the kernel.)
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{
		"-vip\n10.0.0.1:80\n-pool\n127.0.0.1:8080,127.0.0.1:8081",
		"-fwmark\n7\n-ipv6\n-pool\n[::1]:80\n-forward\ndr",
		"-vip\n10.0.0.1:80\n-master\nhttp://127.0.0.1:5050\n-task-cmd\n/bin/web -p 1",
		"-vip\n10.0.0.1:80\n-fwmark\n1",
		"-fwmark\n4294967296\n-pool\n127.0.0.1:1",
		"-vip\n10.0.0.1\n-proto\nicmp",
		"-vip\n10.0.0.1:80\n-pool\n,, ,127.0.0.1:1,",
		"-h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		stderr := os.Stderr
		os.Stderr, _ = os.Open(os.DevNull) // the FlagSet prints usage there
		defer func() { os.Stderr.Close(); os.Stderr = stderr }()
		o, err := parseFlags(strings.Split(in, "\n"))
		if err != nil {
			return
		}
		if o.svc.Addr.IsValid() == (o.svc.FWMark != 0) {
			t.Fatalf("%q: accepted service %+v: want exactly one of an address and a firewall mark", in, o.svc)
		}
		for _, a := range o.pool {
			if !a.IsValid() {
				t.Fatalf("%q: accepted pool entry %v", in, a)
			}
		}
		switch {
		case len(o.masters) > 0 && len(o.pool) > 0:
			t.Fatalf("%q: accepted both a pool and masters", in)
		case len(o.masters) > 0 && len(o.task.Command) == 0:
			t.Fatalf("%q: accepted masters without a task command", in)
		case len(o.masters) == 0 && len(o.pool) == 0:
			t.Fatalf("%q: accepted neither a pool nor masters", in)
		}
	})
}
