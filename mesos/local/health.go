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
)

// validateHealthCheck checks a task's HealthCheck (nil is valid).
func validateHealthCheck(hc *mesos.HealthCheck) error {
	if hc == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    float64
	}{{"delay_seconds", hc.GetDelaySeconds()}, {"interval_seconds", hc.GetIntervalSeconds()},
		{"timeout_seconds", hc.GetTimeoutSeconds()}, {"grace_period_seconds", hc.GetGracePeriodSeconds()}} {
		if d.v < 0 || d.v != d.v || d.v > 1e7 {
			return fmt.Errorf("%s %v is invalid", d.name, d.v)
		}
	}
	if hc.GetIntervalSeconds() == 0 {
		return errors.New("interval_seconds must be positive")
	}
	switch hc.Type {
	case mesos.HealthCheck_HTTP:
		if hc.HTTP == nil {
			return errors.New("expecting 'http' to be set for an HTTP health check")
		}
		if s := hc.HTTP.GetScheme(); s != "" && s != "http" && s != "https" {
			return fmt.Errorf("unsupported HTTP health check scheme %q", s)
		}
		if hc.HTTP.Port == 0 || hc.HTTP.Port > 65535 {
			return fmt.Errorf("HTTP health check port %d is invalid", hc.HTTP.Port)
		}
	case mesos.HealthCheck_TCP:
		if hc.TCP == nil {
			return errors.New("expecting 'tcp' to be set for a TCP health check")
		}
		if hc.TCP.Port == 0 || hc.TCP.Port > 65535 {
			return fmt.Errorf("TCP health check port %d is invalid", hc.TCP.Port)
		}
	case mesos.HealthCheck_COMMAND:
		if hc.Command == nil {
			return errors.New("expecting 'command' to be set for a command health check")
		}
		if _, _, err := commandArgv(hc.Command); err != nil {
			return err
		}
	default:
		return fmt.Errorf("health check type %s is not supported", hc.Type)
	}
	return nil
}

// startHealthCheck runs a task's health check until the task ends, as the
// command executor's HealthChecker does (src/checks/health_checker.cpp,
// HealthChecker::failure and HealthChecker::success, reported by
// CommandExecutor::taskHealthUpdated in src/launcher/executor.cpp): after
// delay_seconds, every interval_seconds. A failure inside the grace period
// before the first success is ignored; every other failure is reported as
// one TASK_RUNNING update with healthy=false, and the one that reaches
// consecutive_failures (default 3) kills the task. A success is reported
// (healthy=true) only as the first one and the first after failures.
// c.mu must be held.
func (c *Cluster) startHealthCheck(t *task) {
	ctx, cancel := context.WithCancel(c.ctx)
	t.health = cancel
	hc := *t.info.HealthCheck
	sandbox := t.sandbox
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		start := time.Now()
		timer := time.NewTimer(sec(hc.GetDelaySeconds()))
		defer timer.Stop()
		failures := uint32(0)
		initializing := true
		grace := sec(hc.GetGracePeriodSeconds())
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			err := runHealthCheck(ctx, &hc, sandbox, sec(hc.GetTimeoutSeconds()))
			if ctx.Err() != nil {
				return
			}
			c.mu.Lock()
			if isTerminal(t.state) || t.killing {
				c.mu.Unlock()
				return
			}
			switch {
			case err == nil:
				if initializing || failures > 0 {
					t.healthy = ptr(true)
					c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_RUNNING.Enum(), Healthy: ptr(true),
						Reason: mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum()})
					initializing = false
				}
				failures = 0
			case initializing && grace > 0 && time.Since(start) <= grace:
				c.log.Debug("health check failed in its grace period: ignored", "task", t.id(), "err", err)
			default:
				failures++
				c.log.Debug("health check failed", "task", t.id(), "failures", failures, "err", err)
				t.healthy = ptr(false)
				c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_RUNNING.Enum(), Healthy: ptr(false),
					Reason: mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum()})
				if failures >= hc.GetConsecutiveFailures() {
					c.log.Info("killing unhealthy task", "task", t.id(), "failures", failures)
					c.killTask(t, nil, mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED)
					c.mu.Unlock()
					return
				}
			}
			c.mu.Unlock()
			timer.Reset(sec(hc.GetIntervalSeconds()))
		}
	}()
}

// runHealthCheck performs one check against 127.0.0.1.
func runHealthCheck(ctx context.Context, hc *mesos.HealthCheck, sandbox string, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	switch hc.Type {
	case mesos.HealthCheck_HTTP:
		scheme := hc.HTTP.GetScheme()
		if scheme == "" {
			scheme = "http"
		}
		url := scheme + "://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hc.HTTP.Port))) + hc.HTTP.GetPath()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := healthClient.Do(req)
		if err != nil {
			return fmt.Errorf("HTTP health check: %w", err)
		}
		resp.Body.Close()
		if len(hc.HTTP.Statuses) > 0 {
			for _, s := range hc.HTTP.Statuses {
				if int(s) == resp.StatusCode {
					return nil
				}
			}
			return fmt.Errorf("HTTP health check returned status %d", resp.StatusCode)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			return fmt.Errorf("HTTP health check returned status %d, want 200-399", resp.StatusCode)
		}
		return nil
	case mesos.HealthCheck_TCP:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hc.TCP.Port))))
		if err != nil {
			return fmt.Errorf("TCP health check: %w", err)
		}
		return conn.Close()
	case mesos.HealthCheck_COMMAND:
		done := make(chan *process, 1)
		p, err := startProcess(hc.Command, sandbox, map[string]string{"MESOS_SANDBOX": sandbox}, func(p *process) { done <- p })
		if err != nil {
			return fmt.Errorf("command health check: %w", err)
		}
		select {
		case <-ctx.Done():
			p.signal(sigKill)
			<-done
			return fmt.Errorf("command health check: %w", ctx.Err())
		case <-done:
		}
		if code, msg := describeExit(p.exit); code != 0 {
			return fmt.Errorf("command health check: %s", msg)
		}
		return nil
	}
	return fmt.Errorf("health check type %s is not supported", hc.Type)
}

var healthClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}
