package mesos

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"

	"github.com/webfarm/webfarm/internal/recordio"
)

// maxFrame is the RecordIO frame limit of mesos-go v0.0.11's reader (its
// scanner buffer): a longer record could never be read anyway.
const maxFrame = 4 << 20

// streamGuard is an http.RoundTripper that puts every event stream a
// master sends (a 200 answer read as RecordIO: no Content-Length, or
// Content-Type application/recordio) behind [recordio.Guard]. mesos-go
// v0.0.11's RecordIO reader panics on a record length of 2^63 or more (it
// converts the length to a negative int), so a faulty or hostile master, or
// anyone on the path without TLS, could crash the scheduler with one line.
// Behind the guard such a length, or any length over 4 MiB or malformed,
// is a read error instead: mesos-go ends the subscription with it and the
// scheduler re-subscribes with backoff, as after any broken stream.
type streamGuard struct {
	next http.RoundTripper
	log  *slog.Logger
}

// RoundTrip implements http.RoundTripper.
func (g streamGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := g.next.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusOK || res.Body == nil {
		return res, err
	}
	ct := res.Header.Get("Content-Type")
	if res.ContentLength >= 0 && !strings.HasPrefix(ct, "application/recordio") {
		return res, nil // read as one message, not as RecordIO
	}
	res.Body = &guardedBody{
		GuardReader: recordio.Guard(res.Body, maxFrame),
		body:        res.Body,
		url:         req.URL.Redacted(),
		log:         g.log,
	}
	return res, nil
}

// guardedBody is a response body read through a recordio.Guard.
type guardedBody struct {
	*recordio.GuardReader
	body   io.Closer
	url    string
	log    *slog.Logger
	logged sync.Once
}

// Read implements io.Reader. A framing error is returned wrapped, naming
// the master, and logged once at Error: it means a broken or hostile
// master, not a network problem.
func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.GuardReader.Read(p)
	if err != nil && (errors.Is(err, recordio.ErrTooLarge) || errors.Is(err, recordio.ErrBadLength)) {
		err = fmt.Errorf("mesos: malformed event stream from %s: %w", b.url, err)
		b.logged.Do(func() {
			b.log.Error("mesos: master sent a malformed event stream; dropping the subscription", "master", b.url, "err", err)
		})
	}
	return n, err
}

// Close implements io.Closer.
func (b *guardedBody) Close() error { return b.body.Close() }

// safeResponse turns a panic in mesos-go's decoding of the event stream
// into an error, which ends the subscription like any broken stream.
type safeResponse struct {
	mesos.Response
	s *Scheduler
}

// Decode implements encoding.Decoder.
func (r safeResponse) Decode(u encoding.Unmarshaler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = r.s.recovered("decoding an event", p)
		}
	}()
	return r.Response.Decode(u)
}

// recovered logs a recovered panic with its stack and returns it as an
// error. A panic may leave s.mu locked, and nothing could go on then: if
// the lock stays held for recoverLockWait, recovered panics again rather
// than let the scheduler hang silently.
func (s *Scheduler) recovered(where string, p any) error {
	err := fmt.Errorf("mesos: panic %s: %v", where, p)
	s.log.Error("mesos: recovered from a panic", "where", where, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	deadline := time.Now().Add(recoverLockWait)
	for !s.mu.TryLock() {
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("mesos: state lock still held %v after a panic %s: %v", recoverLockWait, where, p))
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Unlock()
	return err
}

// recoverLockWait is how long recovered waits for s.mu to be free (far
// longer than any holder keeps it). A variable for tests.
var recoverLockWait = 10 * time.Second
