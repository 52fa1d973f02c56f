package main

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseFlags feeds the command's flag parser any argument list (the
// fuzz input split at newlines): no panic, and an accepted list has a
// known -missing mode, an -instances map of IP addresses to instance IDs
// ("i-…"), and, with -master, a task command split into an argument
// vector (no shell).
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{
		"-target-group-arn\narn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web/1\n-region\neu-west-1",
		"-classic\nweb\n-instances\n10.0.0.5=i-0abc,10.0.0.6=i-0def",
		"-classic\nweb\n-instances\n10.0.0.5=x",
		"-target-group-arn\nx\n-missing\nmaybe",
		"-target-group-arn\nx\n-master\nhttp://127.0.0.1:5050\n-task-cmd\n/bin/web  -p 8080",
		"-target-group-arn\nx\n-master\nhttp://127.0.0.1:5050\n-task-cmd\n  ",
		"-target-latency-ms\n-1",
		"extra",
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
		if s := o.elb.Missing.String(); s != "zero" && s != "unknown" {
			t.Fatalf("%q: accepted missing mode %q", in, s)
		}
		if len(o.masters) > 0 {
			if len(o.task.Command) == 0 {
				t.Fatalf("%q: accepted -master without a task command", in)
			}
			for _, a := range o.task.Command {
				if a == "" || strings.ContainsAny(a, " \t\n") {
					t.Fatalf("%q: task argument %q is not one word of the command", in, a)
				}
			}
		}
		for _, sig := range o.policy.Signals {
			if !(sig.ValuePerTask > 0) {
				t.Fatalf("%q: accepted signal %+v", in, sig)
			}
		}
	})
}

// FuzzParseInstances: anything accepted maps IP addresses (unmapped) to
// IDs that start with "i-"; there is always at least one entry.
func FuzzParseInstances(f *testing.F) {
	for _, s := range []string{"10.0.1.5=i-0abc,10.0.1.6=i-0def", "::ffff:10.0.0.1=i-1", "10.0.0.1=j-1", "=i-", ",", "10.0.0.1=i-1,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseInstances(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "-instances: ") {
				t.Fatalf("parseInstances(%q): error %q does not name the flag", s, err)
			}
			return
		}
		if len(m) == 0 {
			t.Fatalf("parseInstances(%q) accepted no entry", s)
		}
		for a, id := range m {
			if !a.IsValid() || a.Is4In6() || !strings.HasPrefix(id, "i-") {
				t.Fatalf("parseInstances(%q): entry %v=%q", s, a, id)
			}
		}
	})
}
