package status

import (
	"fmt"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// BenchmarkStatusJSON measures one poll of /api/status by the page on a
// full board: 10 minutes of 1 s ticks, 30 decisions, a 50-backend pool.
func BenchmarkStatusJSON(b *testing.B) {
	c := newClock()
	board, err := NewBoard(Options{Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	st := lb.Stats{Backends: map[string]lb.BackendStats{}}
	for i := range 50 {
		st.Backends[fmt.Sprintf("web.%016x", i)] = lb.BackendStats{Requests: uint64(i * 1000), State: lb.StateReady}
	}
	board.observeStats(st)
	for i := range 600 {
		c.Advance(time.Second)
		board.Record(report(c, 4, 4+i%2, 4, float64(i), true, "rps over tasks, target 50/task → n"))
	}
	h := board.Handler()
	req := httptest.NewRequest("GET", "/api/status", nil)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		size = rec.Body.Len()
		_, _ = io.Copy(io.Discard, rec.Body)
	}
	b.ReportMetric(float64(size), "bytes/poll")
}
