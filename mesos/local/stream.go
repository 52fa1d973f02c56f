package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/encoding"

	"github.com/webfarm/webfarm/internal/recordio"
)

// Media types of the v1 HTTP APIs.
const (
	mediaJSON     = "application/json"
	mediaProtobuf = "application/x-protobuf"
)

// writeTimeout bounds one write to a subscriber that stopped reading.
const writeTimeout = 30 * time.Second

// marshal encodes a message in the stream's media type.
func marshal(media string, m encoding.Marshaler) ([]byte, error) {
	if media == mediaProtobuf {
		return m.Marshal()
	}
	return json.Marshal(m)
}

// stream is one subscription's event stream: events are queued without
// blocking (under the cluster lock) and written by the HTTP handler as
// RecordIO records.
type stream struct {
	id     string
	media  string
	mu     sync.Mutex
	queue  [][]byte
	notify chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newStream(media string) *stream {
	return &stream{id: newUUIDString(), media: media, notify: make(chan struct{}, 1), done: make(chan struct{})}
}

// send queues an event. It never blocks.
func (s *stream) send(m encoding.Marshaler) {
	b, err := marshal(s.media, m)
	if err != nil { // our own events always encode; keep the stream alive regardless
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, b)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// close ends the stream after the queued events are written.
func (s *stream) close() { s.once.Do(func() { close(s.done) }) }

// errStreamClosed is returned by serve when the stream was ended by the server.
var errStreamClosed = errors.New("stream closed by the server")

// serve writes the stream to w until ctx is done (the client went away) or
// the stream is closed. heartbeat, if not nil, is written every interval.
func (s *stream) serve(ctx context.Context, w http.ResponseWriter, interval time.Duration, heartbeat []byte) error {
	rc := http.NewResponseController(w)
	fw := recordio.NewWriter(w)
	flush := func() error {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		if len(q) == 0 {
			return nil
		}
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		for _, b := range q {
			if err := fw.WriteRecord(b); err != nil {
				return fmt.Errorf("write event: %w", err)
			}
		}
		if err := rc.Flush(); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		return nil
	}
	var tick <-chan time.Time
	if heartbeat != nil && interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	if err := flush(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			if err := flush(); err != nil {
				return err
			}
			return errStreamClosed
		case <-s.notify:
			if err := flush(); err != nil {
				return err
			}
		case <-tick:
			s.mu.Lock()
			s.queue = append(s.queue, heartbeat)
			s.mu.Unlock()
			if err := flush(); err != nil {
				return err
			}
		}
	}
}
