package webserver

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"time"
)

// HandlerOptions configures [NewHandler]. A zero HandlerOptions is valid:
// "/" answers in plain text, "/slow" is not served.
type HandlerOptions struct {
	// TaskID names the task in the answers to "/" (and "/slow"). It may be
	// empty; it is HTML-escaped in the HTML page.
	TaskID string
	// HTML makes "/" answer a small HTML page ("served by task ID") with
	// the header X-Served-By: ID. If false, "/" answers "served by ID\n" as
	// plain text.
	HTML bool
	// SlowMax, if positive, serves GET /slow?ms=N: the answer comes after N
	// ms, for 0 ≤ N ≤ SlowMax in ms; other N get 400 Bad Request. A client
	// that goes away ends the wait. If zero or negative, /slow is 404.
	SlowMax time.Duration
}

// NewHandler returns the task's HTTP handler:
//
//	GET /          names the task (see [HandlerOptions.HTML])
//	GET /healthz   "ok\n", for the balancer's and Mesos' health checks
//	GET /slow?ms=N "slow answer from ID\n" after N ms, if SlowMax > 0
//
// Any other path is 404; another method on these paths is 405. GET
// includes HEAD. The handler is safe for concurrent use.
func NewHandler(o HandlerOptions) http.Handler {
	mux := http.NewServeMux()
	if o.HTML {
		body := []byte("<!doctype html><title>webfarm</title><h1>Hello from the web farm</h1><p>served by task " +
			html.EscapeString(o.TaskID) + "</p>\n")
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("X-Served-By", o.TaskID)
			_, _ = w.Write(body)
		})
	} else {
		body := []byte("served by " + o.TaskID + "\n")
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(body)
		})
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	if o.SlowMax > 0 {
		mux.Handle("GET /slow", slowHandler(o.TaskID, o.SlowMax))
	}
	return mux
}

// slowHandler answers /slow?ms=N after N ms, N at most max: a session that
// keeps a drained backend busy.
func slowHandler(taskID string, max time.Duration) http.Handler {
	maxMS := max.Milliseconds()
	bad := fmt.Sprintf("ms: want 0–%d", maxMS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.ParseInt(r.URL.Query().Get("ms"), 10, 64)
		if err != nil || ms < 0 || ms > maxMS {
			http.Error(w, bad, http.StatusBadRequest)
			return
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "slow answer from "+taskID+"\n")
	})
}
