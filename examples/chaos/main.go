package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serveMain())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses the flags, runs the suite and returns the exit code: 0 when
// every scenario held, 1 when one failed, 2 on bad flags or a farm that
// did not start.
func run(args []string, stdout, stderr io.Writer) int {
	opt, logPath, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	opt.Exe = exe
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var logs syncBuffer
	rs, err := runSuite(ctx, opt, stdout, &logs, nil)
	if logPath != "" {
		if werr := os.WriteFile(logPath, []byte(logs.String()), 0o600); werr != nil {
			fmt.Fprintln(stderr, "chaos:", werr)
		} else {
			fmt.Fprintf(stdout, "chaos: component logs in %s\n", logPath)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	for _, r := range rs {
		if r.Err != nil {
			return 1
		}
	}
	return 0
}

// parseFlags returns the run's options: the full-length suite unless
// -bounded, with the flags' overrides.
func parseFlags(args []string, stderr io.Writer) (options, string, error) {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("bounded", false, "run the bounded suite (what go test runs) instead of the full one")
	events := fs.Int("events", 0, "scale events (default: 50, bounded 10)")
	rate := fs.Float64("rate", 0, "steady load through HAProxy in requests/s (default: 100, bounded 40)")
	outage := fs.Duration("outage", 0, "how long the stats socket is away (default: 20s, bounded 4s)")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the scale-event sequence")
	logPath := fs.String("logs", "", "write every component's log lines to this file")
	if err := fs.Parse(args); err != nil {
		return options{}, "", err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(stderr, "chaos:", err)
		return options{}, "", err
	}
	opt := full()
	if *short {
		opt = bounded()
	}
	if *events != 0 {
		opt.ScaleEvents = *events
	}
	if *rate != 0 {
		opt.Rate = *rate
	}
	if *outage != 0 {
		opt.Outage = *outage
	}
	opt.Seed = *seed
	if err := opt.validate(); err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return options{}, "", err
	}
	return opt, *logPath, nil
}

// validate checks the sizes a user may set.
func (o options) validate() error {
	switch {
	case o.ScaleEvents < 1 || o.ScaleEvents > 1000:
		return fmt.Errorf("-events %d: want 1–1000", o.ScaleEvents)
	case !(o.Rate >= 1 && o.Rate <= 2000):
		return fmt.Errorf("-rate %v: want 1–2000 requests/s", o.Rate)
	case o.Outage < o.Interval || o.Outage > 5*time.Minute:
		return fmt.Errorf("-outage %s: want %s–5m", o.Outage, o.Interval)
	}
	return nil
}

// syncBuffer collects log lines from every component; safe for
// concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}
