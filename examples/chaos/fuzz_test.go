package main

import (
	"io"
	"strings"
	"testing"
)

// FuzzParseFlags feeds the suite's flag parser any argument list (the fuzz
// input split at newlines): no panic, and an accepted list gives options
// that validate, with the sizes the flags asked for.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"", "-bounded", "-events\n100\n-rate\n200\n-seed\n42", "-events\n0", "-rate\nNaN",
		"-outage\n-1s", "-rate\n1e309", "-logs\n/tmp/x\nextra", "-h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		args := strings.Split(in, "\n")
		if in == "" {
			args = nil
		}
		opt, _, err := parseFlags(args, io.Discard)
		if err != nil {
			return
		}
		if err := opt.validate(); err != nil {
			t.Fatalf("%q: accepted options that do not validate: %v", in, err)
		}
		if opt.ScaleEvents < 1 || !(opt.Rate >= 1) || opt.Outage < opt.Interval || opt.MaxTasks < 2 || opt.Agents < 2 {
			t.Fatalf("%q: accepted %+v", in, opt)
		}
	})
}
