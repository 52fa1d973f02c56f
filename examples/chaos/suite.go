package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
)

// security checks, on the farm that just ran, what the issue asks of it:
// Mesos with basic auth over TLS (a request without credentials is
// refused), the HAProxy admin socket private to its owner, tasks started
// from an argument vector (no shell), and the Mesos secret in no log line.
func security(ctx context.Context, f *farm, logs func() string) result {
	r := result{Name: "security", Injected: "an unauthenticated scheduler call; inspection of socket, task argv and logs"}
	var errs []error
	var seen []string
	if !strings.HasPrefix(f.cluster.URL(), "https://") {
		errs = append(errs, fmt.Errorf("mesos URL %s is not https", f.cluster.URL()))
	}
	// The whole suite ran on an authenticated, TLS-verified subscription;
	// a call without credentials must get 401.
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: f.ca.Client}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.cluster.URL(), strings.NewReader(`{"type":"SUBSCRIBE"}`))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		var res *http.Response
		if res, err = cl.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			seen = append(seen, fmt.Sprintf("no-credentials call: %d", res.StatusCode))
			if res.StatusCode != http.StatusUnauthorized {
				errs = append(errs, fmt.Errorf("a scheduler call without credentials got %d, want 401", res.StatusCode))
			}
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("no-credentials call: %w", err))
	}
	if fi, err := os.Stat(f.proc.Socket()); err != nil {
		errs = append(errs, err)
	} else {
		seen = append(seen, fmt.Sprintf("socket mode %v", fi.Mode().Perm()))
		if fi.Mode().Perm()&0o077 != 0 {
			errs = append(errs, fmt.Errorf("HAProxy admin socket %s has mode %v: group or others may reconfigure HAProxy", f.proc.Socket(), fi.Mode().Perm()))
		}
	}
	argv := ""
	for _, t := range f.cluster.Tasks() {
		if t.PID == 0 || !t.Ended.IsZero() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", t.PID))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		argv = fmt.Sprintf("%q", args)
		if len(args) != 2 || args[0] != f.opt.Exe || args[1] != "serve" {
			errs = append(errs, fmt.Errorf("task %s runs %q, want the argument vector [%q serve] (no shell)", t.TaskID, args, f.opt.Exe))
		}
		break
	}
	if argv == "" {
		errs = append(errs, errors.New("no running task to inspect"))
	} else {
		seen = append(seen, "task argv "+shortArgv(argv))
	}
	l := logs()
	leaks := testenv.SecretLeaks(l, principal, secret)
	for _, leak := range leaks {
		errs = append(errs, fmt.Errorf("in the logs, %s", leak))
	}
	seen = append(seen, fmt.Sprintf("secret (plain or basic-auth base64) in %d log bytes: %d forms", len(l), len(leaks)))
	r.Measured = strings.Join(seen, "; ")
	r.Err = errors.Join(errs...)
	return r
}

func shortArgv(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return "[…/" + s[i+1:]
	}
	return s
}

// printResult prints what a scenario injected and measured.
func printResult(w io.Writer, r result) {
	fmt.Fprintf(w, "chaos: %s: injected: %s\n", r.Name, r.Injected)
	fmt.Fprintf(w, "chaos: %s: measured: %s; load %d requests, %d failed, %d skipped, p99 %s (%s)\n", r.Name, r.Measured, r.Requests, r.Failed, r.Skipped, r.P99.Round(time.Millisecond), r.Took.Round(time.Millisecond))
	if r.Err != nil {
		fmt.Fprintf(w, "chaos: %s: FAIL: %v\n", r.Name, r.Err)
	}
}

// printSummary prints the suite's table.
func printSummary(w io.Writer, rs []result) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\trequests\tfailed\tskipped\tp99\tallowed failures\ttook\tresult")
	for _, r := range rs {
		verdict := "ok"
		if r.Err != nil {
			verdict = "FAIL"
		}
		allowed := "none"
		if r.Allowed != "" {
			allowed = r.Allowed
		}
		if r.Name == "security" {
			allowed = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Requests, r.Failed, r.Skipped, r.P99.Round(time.Millisecond), allowed, r.Took.Round(100*time.Millisecond), verdict)
	}
	tw.Flush()
	fmt.Fprint(w, b.String())
}

// runSuite starts the farm, runs every scenario on it, then the security
// checks, and prints the summary. each, if set, wraps each scenario (the
// test runs them as subtests).
func runSuite(ctx context.Context, opt options, out io.Writer, logs *syncBuffer, each func(name string, run func() result)) ([]result, error) {
	start := time.Now()
	f, err := startFarm(ctx, opt, out, logs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(out, "chaos: farm up in %s: mesos/local %s (%d agents, basic auth), HAProxy %s, load %.0f req/s, one poll = %s\n",
		time.Since(start).Round(time.Millisecond), f.cluster.URL(), opt.Agents, f.proc.URL(), opt.Rate, opt.Interval)
	if each == nil {
		each = func(_ string, run func() result) { run() }
	}
	var rs []result
	for _, sc := range scenarios {
		each(sc.name, func() result {
			r := runScenario(ctx, f, sc)
			printResult(out, r)
			rs = append(rs, r)
			return r
		})
		if ctx.Err() != nil {
			return rs, ctx.Err()
		}
	}
	each("security", func() result {
		r := security(ctx, f, logs.String)
		printResult(out, r)
		rs = append(rs, r)
		return r
	})
	total := f.load.Snapshot()
	printSummary(out, rs)
	fmt.Fprintf(out, "chaos: load over the suite: %s\n", total)
	return rs, nil
}
