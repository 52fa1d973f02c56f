package status

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalid is wrapped by the error [Board.SetDeployment] returns for a
// reading it cannot show.
var ErrInvalid = errors.New("invalid argument")

// Deployment is one reading of a deployment's progress, for
// [Board.SetDeployment]. Its fields are those of mesos.DeployStatus
// (the caller copies them: status does not import mesos, see
// docs/DESIGN.md's dependency direction).
type Deployment struct {
	// State is where the deployment stands ("running", "canary",
	// "paused", "done", …).
	State string `json:"state"`
	// From and To are the old and the new version.
	From string `json:"from"`
	To   string `json:"to"`
	// Rollback reports that the deployment undoes an earlier one; Reason
	// says why.
	Rollback bool   `json:"rollback"`
	Reason   string `json:"reason,omitempty"`
	// Desired is the service's desired count; Old and New count the live
	// tasks of each version, Ready the new ones serving at full weight.
	Desired int `json:"desired"`
	Old     int `json:"old"`
	New     int `json:"new"`
	Ready   int `json:"ready"`
	// Share is the new version's part of the traffic, 0–1.
	Share float64 `json:"share"`
	// OldRequests, OldErrors, NewRequests and NewErrors count each
	// version's requests and 5xx answers since the deployment began
	// (cumulative counters, as the balancer's).
	OldRequests uint64 `json:"old_requests"`
	OldErrors   uint64 `json:"old_errors"`
	NewRequests uint64 `json:"new_requests"`
	NewErrors   uint64 `json:"new_errors"`
}

// VersionRate is one version's traffic during a deployment, as the
// board's [DeployView] shows it.
type VersionRate struct {
	// Version names it; Role is "old" or "new".
	Version string `json:"version"`
	Role    string `json:"role"`
	// Requests and Errors are the version's counters since the
	// deployment began.
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	// RPS and ErrorsPerSecond are the rates between the last two
	// readings (nil after the first reading of a deployment). ErrorRate
	// is the 5xx share of the requests between them, nil when none came.
	RPS             *float64 `json:"rps"`
	ErrorsPerSecond *float64 `json:"errors_per_second"`
	ErrorRate       *float64 `json:"error_rate"`
}

// DeployView is the deployment a board shows: the last reading given to
// [Board.SetDeployment] and both versions' rates.
type DeployView struct {
	Deployment
	// At is when the reading was taken, in Unix milliseconds.
	At int64 `json:"at"`
	// Versions holds the old version, then the new one.
	Versions []VersionRate `json:"versions"`
}

// deployState is what the board keeps between readings.
type deployState struct {
	at   time.Time
	d    Deployment
	view DeployView
}

func (d Deployment) validate() error {
	switch {
	case d.From == "" || d.To == "":
		return fmt.Errorf("versions %q→%q: both must be set", d.From, d.To)
	case d.Desired < 0 || d.Old < 0 || d.New < 0 || d.Ready < 0:
		return fmt.Errorf("task counts desired %d, old %d, new %d, ready %d: must be ≥ 0", d.Desired, d.Old, d.New, d.Ready)
	case !(d.Share >= 0 && d.Share <= 1): // NaN too
		return fmt.Errorf("share %v: must be in [0, 1]", d.Share)
	case d.OldErrors > d.OldRequests || d.NewErrors > d.NewRequests:
		return fmt.Errorf("5xx counts old %d of %d, new %d of %d: more errors than requests", d.OldErrors, d.OldRequests, d.NewErrors, d.NewRequests)
	}
	return nil
}

// SetDeployment records one reading of a deployment's progress (call it
// every second or so while one runs, e.g. from mesos.Scheduler.DeployStatus)
// and shows it on the page's "Deployment" section, in /api/status
// (Snapshot.Deploy) and in /metrics. Each version's request rate, 5xx
// rate and 5xx share come from the counters' rise since the previous
// reading of the same deployment (same From and To), over the board's
// clock; a counter that went down counts from zero, as [lb.Meter] treats
// a reset. An invalid reading (a version unset, a negative count, a share
// outside [0, 1], more errors than requests) returns an error wrapping
// [ErrInvalid] and changes nothing.
func (b *Board) SetDeployment(d Deployment) error {
	if err := d.validate(); err != nil {
		return fmt.Errorf("status: deployment: %w: %w", ErrInvalid, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now()
	prev := b.deploy
	same := prev != nil && prev.d.From == d.From && prev.d.To == d.To
	if prev != nil && !same {
		for _, v := range []string{prev.d.From, prev.d.To} {
			if v != d.From && v != d.To {
				b.m.deployRPS.DeleteLabelValues(v)
				b.m.deployErrorRatio.DeleteLabelValues(v)
				b.m.deployTasks.DeleteLabelValues(v)
			}
			if v != d.To {
				b.m.deployShare.DeleteLabelValues(v)
			}
		}
	}
	dt := 0.0
	if same {
		dt = now.Sub(prev.at).Seconds()
	}
	version := func(role, name string, req, errs, prevReq, prevErrs uint64, tasks int) VersionRate {
		vr := VersionRate{Version: name, Role: role, Requests: req, Errors: errs}
		dReq, dErr := req, errs
		if same {
			dReq, dErr = rise(prevReq, req), rise(prevErrs, errs)
		}
		b.m.deployRequests.WithLabelValues(name).Add(float64(dReq))
		b.m.deployErrors.WithLabelValues(name).Add(float64(dErr))
		b.m.deployTasks.WithLabelValues(name).Set(float64(tasks))
		if dt > 0 {
			rps, eps := float64(dReq)/dt, float64(dErr)/dt
			vr.RPS, vr.ErrorsPerSecond = &rps, &eps
			b.m.deployRPS.WithLabelValues(name).Set(rps)
			if dReq > 0 {
				ratio := float64(dErr) / float64(dReq)
				vr.ErrorRate = &ratio
				b.m.deployErrorRatio.WithLabelValues(name).Set(ratio)
			}
		}
		return vr
	}
	var p Deployment
	if prev != nil {
		p = prev.d
	}
	view := DeployView{Deployment: d, At: now.UnixMilli(), Versions: []VersionRate{
		version("old", d.From, d.OldRequests, d.OldErrors, p.OldRequests, p.OldErrors, d.Old),
		version("new", d.To, d.NewRequests, d.NewErrors, p.NewRequests, p.NewErrors, d.New),
	}}
	b.m.deployShare.WithLabelValues(d.To).Set(d.Share)
	b.deploy = &deployState{at: now, d: d, view: view}
	return nil
}

// rise is how far a cumulative counter rose from a to b; a counter that
// went down was reset and counts from zero (as lb.Meter does).
func rise(a, b uint64) uint64 {
	if b < a {
		return b
	}
	return b - a
}

// clone is a deep copy of v, for a Snapshot.
func (v DeployView) clone() *DeployView {
	c := v
	c.Versions = make([]VersionRate, len(v.Versions))
	for i, vr := range v.Versions {
		for _, f := range []**float64{&vr.RPS, &vr.ErrorsPerSecond, &vr.ErrorRate} {
			if *f != nil {
				x := **f
				*f = &x
			}
		}
		c.Versions[i] = vr
	}
	return &c
}
