package status

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// reading is a deployment of v1→v2, 2 of 6 tasks new, with the given
// cumulative counters.
func reading(oldReq, oldErr, newReq, newErr uint64) Deployment {
	return Deployment{State: "running", From: "v1", To: "v2", Desired: 6, Old: 4, New: 2, Ready: 2, Share: 1.0 / 3,
		OldRequests: oldReq, OldErrors: oldErr, NewRequests: newReq, NewErrors: newErr}
}

func approx(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }

// TestBoardDeployment: the board turns successive deployment readings
// into each version's request rate, 5xx rate and 5xx share, and shows
// them with the progress in Snapshot, /api/status, the page and /metrics.
func TestBoardDeployment(t *testing.T) {
	c := newClock()
	b := newBoard(t, c)
	if s := b.Snapshot(); s.Deploy != nil {
		t.Fatalf("no deployment yet, Snapshot.Deploy = %+v", s.Deploy)
	}
	if err := b.SetDeployment(reading(100, 0, 10, 0)); err != nil {
		t.Fatal(err)
	}
	d := b.Snapshot().Deploy
	if d == nil || d.New != 2 || d.Desired != 6 || len(d.Versions) != 2 || d.Versions[0].RPS != nil || d.Versions[1].ErrorRate != nil {
		t.Fatalf("first reading: %+v, want the progress and no rate yet", d)
	}
	c.Advance(2 * time.Second)
	if err := b.SetDeployment(reading(300, 2, 50, 20)); err != nil {
		t.Fatal(err)
	}
	d = b.Snapshot().Deploy
	old, nw := d.Versions[0], d.Versions[1]
	if old.Version != "v1" || old.Role != "old" || !approx(old.RPS, 100) || !approx(old.ErrorsPerSecond, 1) || !approx(old.ErrorRate, 0.01) {
		t.Errorf("old version: %+v, want v1 at 100 req/s, 1 5xx/s, 1 %% 5xx", old)
	}
	if nw.Version != "v2" || nw.Role != "new" || nw.Requests != 50 || nw.Errors != 20 || !approx(nw.RPS, 20) || !approx(nw.ErrorsPerSecond, 10) || !approx(nw.ErrorRate, 0.5) {
		t.Errorf("new version: %+v, want v2 at 20 req/s, 10 5xx/s, 50 %% 5xx", nw)
	}

	// The snapshot is a copy.
	*d.Versions[0].RPS = -1
	if again := b.Snapshot().Deploy; !approx(again.Versions[0].RPS, 100) {
		t.Errorf("changing a Snapshot changed the board: %v", *again.Versions[0].RPS)
	}

	h := b.Handler()
	body, _ := io.ReadAll(get(t, h, "GET", "/api/status").Body)
	var js struct {
		Deploy struct {
			State    string  `json:"state"`
			Ready    int     `json:"ready"`
			Desired  int     `json:"desired"`
			Share    float64 `json:"share"`
			Versions []struct {
				Version   string  `json:"version"`
				RPS       float64 `json:"rps"`
				ErrorRate float64 `json:"error_rate"`
			} `json:"versions"`
		} `json:"deploy"`
	}
	if err := json.Unmarshal(body, &js); err != nil {
		t.Fatal(err)
	}
	if js.Deploy.State != "running" || js.Deploy.Ready != 2 || js.Deploy.Desired != 6 || len(js.Deploy.Versions) != 2 ||
		js.Deploy.Versions[0].RPS != 100 || js.Deploy.Versions[1].RPS != 20 || js.Deploy.Versions[1].ErrorRate != 0.5 {
		t.Errorf("/api/status deploy = %+v\n%s", js.Deploy, body)
	}
	page, _ := io.ReadAll(get(t, h, "GET", "/").Body)
	for _, want := range []string{`<section id="deploy"`, `id="deploy-progress"`, `id="deploy-versions"`, "d.versions.map"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	metrics, _ := io.ReadAll(get(t, h, "GET", "/metrics").Body)
	for _, want := range []string{
		`webfarm_deploy_requests_total{version="v1"} 300`, `webfarm_deploy_requests_total{version="v2"} 50`,
		`webfarm_deploy_errors_total{version="v1"} 2`, `webfarm_deploy_errors_total{version="v2"} 20`,
		`webfarm_deploy_requests_per_second{version="v1"} 100`, `webfarm_deploy_requests_per_second{version="v2"} 20`,
		`webfarm_deploy_error_ratio{version="v1"} 0.01`, `webfarm_deploy_error_ratio{version="v2"} 0.5`,
		`webfarm_deploy_tasks{version="v1"} 4`, `webfarm_deploy_tasks{version="v2"} 2`,
		`webfarm_deploy_traffic_share{version="v2"} 0.333`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Counters that went down (a balancer restart) count from zero.
	c.Advance(time.Second)
	if err := b.SetDeployment(reading(40, 0, 5, 5)); err != nil {
		t.Fatal(err)
	}
	if nw := b.Snapshot().Deploy.Versions[1]; !approx(nw.RPS, 5) || !approx(nw.ErrorRate, 1) {
		t.Errorf("after a counter reset: %+v, want 5 req/s, all 5xx", nw)
	}
	metrics, _ = io.ReadAll(get(t, h, "GET", "/metrics").Body)
	if !strings.Contains(string(metrics), `webfarm_deploy_requests_total{version="v2"} 55`) {
		t.Errorf("/metrics after the reset lacks webfarm_deploy_requests_total{version=\"v2\"} 55")
	}

	// A new deployment (v2→v3) starts its rates afresh, and v1's gauges go.
	c.Advance(time.Second)
	next := reading(500, 0, 0, 0)
	next.From, next.To = "v2", "v3"
	if err := b.SetDeployment(next); err != nil {
		t.Fatal(err)
	}
	if d := b.Snapshot().Deploy; d.Versions[0].Version != "v2" || d.Versions[0].RPS != nil {
		t.Errorf("new deployment: %+v, want v2 old with no rate yet", d.Versions[0])
	}
	metrics, _ = io.ReadAll(get(t, h, "GET", "/metrics").Body)
	if strings.Contains(string(metrics), `webfarm_deploy_requests_per_second{version="v1"}`) ||
		strings.Contains(string(metrics), `webfarm_deploy_tasks{version="v1"}`) ||
		strings.Contains(string(metrics), `webfarm_deploy_traffic_share{version="v2"}`) ||
		!strings.Contains(string(metrics), `webfarm_deploy_traffic_share{version="v3"}`) {
		t.Errorf("/metrics after v2→v3 began: want no gauge of v1, the traffic share of v3 only:\n%s", metrics)
	}
}

// TestBoardDeploymentInvalid: a reading the board cannot show is
// refused with ErrInvalid, naming the problem, and changes nothing.
func TestBoardDeploymentInvalid(t *testing.T) {
	b := newBoard(t, newClock())
	if err := b.SetDeployment(reading(10, 0, 10, 0)); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		d    func(d *Deployment)
		want string
	}{
		"no from":         {func(d *Deployment) { d.From = "" }, "both must be set"},
		"negative count":  {func(d *Deployment) { d.Old = -1 }, "must be ≥ 0"},
		"share NaN":       {func(d *Deployment) { d.Share = math.NaN() }, "share NaN"},
		"share above 1":   {func(d *Deployment) { d.Share = 1.5 }, "share 1.5"},
		"errors>requests": {func(d *Deployment) { d.NewErrors = 21 }, "more errors than requests"},
	} {
		d := reading(20, 0, 20, 0)
		tc.d(&d)
		err := b.SetDeployment(d)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "status: deployment: ") {
			t.Errorf("%s: SetDeployment = %v, want ErrInvalid saying %q", name, err, tc.want)
		}
	}
	if d := b.Snapshot().Deploy; d.OldRequests != 10 {
		t.Errorf("an invalid reading changed the board: %+v", d)
	}
}
