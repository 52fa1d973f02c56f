package mesos

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// redacted stands in for a secret in logs.
const redacted = "REDACTED"

// LogValue implements [slog.LogValuer]: c logs as a group of its settings
// with Secret shown as "REDACTED" (or "" when unset), Task.Env values
// redacted, and TLS, Balancer, Resolve and Logger shown only by kind, so
// that logging a Config, or anything holding one, never reveals a
// credential.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Any("masters", redactMasters(c.Masters)),
		slog.String("name", c.Name),
		slog.String("user", c.User),
		slog.String("role", c.Role),
		slog.String("principal", c.Principal),
		slog.String("secret", redactString(c.Secret)),
		slog.Bool("tls", c.TLS != nil),
		slog.Duration("failover_timeout", c.FailoverTimeout),
		slog.String("state_file", c.StateFile),
		slog.Bool("state_store", c.State != nil),
		slog.Int("initial_count", c.InitialCount),
		slog.String("codec", c.Codec),
		slog.Any("task", c.Task),
		slog.Int("max_per_host", c.MaxPerHost),
		slog.Int("max_per_agent", c.MaxPerAgent),
		slog.String("balancer", typeName(c.Balancer)),
		slog.String("victims", c.Victims.String()),
		slog.Duration("drain_timeout", c.DrainTimeout),
		slog.Duration("slow_start", c.SlowStart),
		slog.Int("weight", c.Weight),
		slog.Duration("pool_sync_interval", c.PoolSyncInterval),
		slog.Duration("tick", c.Tick),
	}
	for _, sc := range c.Services { // each redacted by ServiceConfig.LogValue
		attrs = append(attrs, slog.Any("service."+sc.Name, sc))
	}
	return slog.GroupValue(attrs...)
}

// LogValue implements [slog.LogValuer]: the template logs with its Env
// values redacted (environment variables often carry credentials); the
// names are kept.
func (t TaskTemplate) LogValue() slog.Value {
	env := make([]string, 0, len(t.Env))
	for k := range t.Env {
		env = append(env, k+"="+redacted)
	}
	slices.Sort(env)
	attrs := []slog.Attr{
		slog.String("name", t.Name),
		slog.Any("command", t.Command),
		slog.String("image", t.Image),
		slog.Any("env", env),
		slog.Float64("cpus", t.CPUs),
		slog.Float64("mem", t.Mem),
		slog.Int("ports", t.Ports),
		slog.Bool("health_check", t.HealthCheck != nil),
		slog.Duration("kill_grace_period", t.KillGracePeriod),
	}
	return slog.GroupValue(attrs...)
}

// LogValue implements [slog.LogValuer]: a Scheduler logs as its framework
// ID, its leader and its (redacted) configuration, never its internals.
func (s *Scheduler) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(
		slog.String("framework_id", s.FrameworkID()),
		slog.String("leader", s.Leader()),
		slog.Any("config", s.cfg),
	)
}

// redactString returns "" for "" and "REDACTED" for anything else.
func redactString(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

func typeName(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%T", v)
}

// String returns c as key=value text, the secret redacted as LogValue
// does, so that fmt's %v and %+v do not reveal it either.
func (c Config) String() string { return valueText(c.LogValue()) }

// GoString is c for %#v, redacted as String is.
func (c Config) GoString() string { return "mesos.Config{" + c.String() + "}" }

// String returns t as key=value text, Env values redacted.
func (t TaskTemplate) String() string { return valueText(t.LogValue()) }

// GoString is t for %#v, redacted as String is.
func (t TaskTemplate) GoString() string { return "mesos.TaskTemplate{" + t.String() + "}" }

// String returns the scheduler as key=value text, its configuration
// redacted; fmt would otherwise print every field, the secret included.
func (s *Scheduler) String() string {
	if s == nil {
		return "<nil>"
	}
	return valueText(s.LogValue())
}

// GoString is s for %#v, redacted as String is.
func (s *Scheduler) GoString() string { return "&mesos.Scheduler{" + s.String() + "}" }

// valueText renders a group value as slog's text handler does.
func valueText(v slog.Value) string {
	v = v.Resolve()
	if v.Kind() != slog.KindGroup {
		return v.String()
	}
	var b strings.Builder
	h := slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		return a
	}})
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0)
	r.AddAttrs(v.Group()...)
	_ = h.Handle(context.Background(), r)
	return strings.TrimSuffix(b.String(), "\n")
}

// String returns c as key=value text, Env values redacted.
func (c ServiceConfig) String() string { return valueText(c.LogValue()) }

// GoString is c for %#v, redacted as String is.
func (c ServiceConfig) GoString() string { return "mesos.ServiceConfig{" + c.String() + "}" }
