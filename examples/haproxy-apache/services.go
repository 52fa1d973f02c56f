package main

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webfarm/webfarm/status"
)

// builtinServices are the services of a multi-service demo (-services N
// runs the first N): the first is HAProxy's default backend, the others
// are routed by path prefix /name/. Each has its own load shape.
var builtinServices = []struct{ name, shape string }{
	{"web", shapeClassic},
	{"api", shapeSpike},
	{"static", shapeWave},
}

// builtinList describes builtinServices for the flag's help.
func builtinList() string {
	var parts []string
	for _, b := range builtinServices {
		parts = append(parts, b.name+" ("+b.shape+")")
	}
	return strings.Join(parts, ", ")
}

// serviceStatus is one service in the multi-service /api/status.
type serviceStatus struct {
	Service string          `json:"service"`
	Shape   string          `json:"shape"`
	Status  status.Snapshot `json:"status"`
}

// servicesStatus is the multi-service /api/status document.
type servicesStatus struct {
	Services []serviceStatus `json:"services"`
}

// servicesHandler serves the status of a farm of several services:
//   - GET / — one section per service, each framing that service's page;
//   - GET /s/NAME/ — the service's own page (and its /s/NAME/api/status);
//   - GET /api/status — every service's [status.Snapshot], in order;
//   - GET /metrics — all boards' metrics (one registry, a service label each).
func servicesHandler(svcs []*farmService, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	var b strings.Builder
	b.WriteString("<!doctype html><meta charset=utf-8><title>webfarm: services</title>" +
		"<style>body{font-family:sans-serif;margin:1em}section{margin-bottom:1em}iframe{width:100%;height:900px;border:1px solid #ccc}</style>" +
		"<h1>webfarm: " + fmt.Sprint(len(svcs)) + " services on one HAProxy</h1>\n")
	for _, sv := range svcs {
		name := html.EscapeString(sv.name)
		fmt.Fprintf(&b, "<section id=\"service-%s\"><h2>%s <small>(load shape %s)</small></h2><p><a href=\"s/%s/\">s/%s/</a></p><iframe src=\"s/%s/\" title=\"%s\"></iframe></section>\n",
			name, name, html.EscapeString(sv.shape), name, name, name, name)
		mux.Handle("/s/"+sv.name+"/", http.StripPrefix("/s/"+sv.name, sv.board.Handler()))
	}
	index := []byte(b.String())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(index)
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		var doc servicesStatus
		for _, sv := range svcs {
			doc.Services = append(doc.Services, serviceStatus{Service: sv.name, Shape: sv.shape, Status: sv.board.Snapshot()})
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		_ = json.NewEncoder(w).Encode(doc)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
