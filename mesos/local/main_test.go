package local

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
)

// TestMain lets the test binary double as a task: with
// LOCAL_TEST_HELPER=http it serves HTTP on 127.0.0.1:$PORT, answering
// /health with status $HEALTH_STATUS (default 200); with
// LOCAL_TEST_HELPER=executor it is a custom executor (see runTestExecutor).
func TestMain(m *testing.M) {
	if os.Getenv("LOCAL_TEST_HELPER") == "executor" {
		os.Exit(runTestExecutor())
	}
	if os.Getenv("LOCAL_TEST_HELPER") == "http" {
		status := 200
		if s := os.Getenv("HEALTH_STATUS"); s != "" {
			fmt.Sscan(s, &status)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				w.WriteHeader(status)
			}
			fmt.Fprintln(w, "hello from", os.Getenv("MESOS_TASK_ID"))
		}))
		os.Exit(0)
	}
	os.Exit(m.Run())
}
