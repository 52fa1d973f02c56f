package local

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// httpError is a failed call: an HTTP status and the message Mesos would send.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.code, http.StatusText(e.code), e.msg)
}

func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *httpError) {
	if e.code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="mesos"`)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(e.code)
	_, _ = io.WriteString(w, e.msg)
}

// requestMedia checks the method and Content-Type of a v1 API call and
// returns the body's media type.
func requestMedia(r *http.Request) (string, *httpError) {
	if r.Method != http.MethodPost {
		return "", &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("Expecting a 'POST' request, received '%s'", r.Method)}
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", badRequest("Expecting 'Content-Type' to be present")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("Malformed 'Content-Type' %q: %v", ct, err)}
	}
	switch mt {
	case mediaJSON, mediaProtobuf:
		return mt, nil
	}
	return "", &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("Expecting 'Content-Type' of %s or %s", mediaJSON, mediaProtobuf)}
}

// acceptMedia picks the event encoding from the Accept header as the Mesos
// master does: JSON if acceptable (or no Accept header), else protobuf.
func acceptMedia(r *http.Request) (string, *httpError) {
	accepts := func(want string) bool {
		h := r.Header.Values("Accept")
		if len(h) == 0 {
			return true
		}
		for _, v := range h {
			for _, part := range strings.Split(v, ",") {
				mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
				if err != nil {
					continue
				}
				if q := params["q"]; q == "0" || q == "0.0" || q == "0.00" || q == "0.000" {
					continue
				}
				typ, sub, _ := strings.Cut(want, "/")
				if mt == "*/*" || mt == typ+"/*" || mt == typ+"/"+sub {
					return true
				}
			}
		}
		return false
	}
	if accepts(mediaJSON) {
		return mediaJSON, nil
	}
	if accepts(mediaProtobuf) {
		return mediaProtobuf, nil
	}
	return "", &httpError{http.StatusNotAcceptable, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", mediaJSON, mediaProtobuf)}
}

// readCall reads r's body and decodes it as a call in the media type its
// Content-Type names. When it cannot, it writes the error answer and
// reports false.
func readCall[T any](w http.ResponseWriter, r *http.Request, decode func(media string, body []byte) (T, *httpError)) (T, bool) {
	var call T
	media, herr := requestMedia(r)
	if herr == nil {
		var body []byte
		if body, herr = readBody(w, r); herr == nil {
			if call, herr = decode(media, body); herr == nil {
				return call, true
			}
		}
	}
	writeError(w, herr)
	return call, false
}

// readBody reads a call body up to maxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *httpError) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body larger than %d bytes", maxBodyBytes)}
		}
		return nil, badRequest("Failed to read request body: %v", err)
	}
	return b, nil
}

// unmarshalMessage decodes a body in the given media type.
func unmarshalMessage(media string, body []byte, m interface {
	Unmarshal([]byte) error
}) error {
	if media == mediaProtobuf {
		return m.Unmarshal(body)
	}
	return json.Unmarshal(body, m)
}

// DecodeCall decodes a scheduler Call body of the given Content-Type
// ("application/json" or "application/x-protobuf", parameters allowed) and
// validates it the way the master does before acting on it. It never panics
// and is exported for tools and fuzzing.
func DecodeCall(contentType string, body []byte) (*scheduler.Call, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("local: content type %q: %w", contentType, err)
	}
	if mt != mediaJSON && mt != mediaProtobuf {
		return nil, fmt.Errorf("local: unsupported content type %q", mt)
	}
	call, herr := decodeCall(mt, body)
	if herr != nil {
		return nil, fmt.Errorf("local: %s", herr.msg)
	}
	return call, nil
}

func decodeCall(media string, body []byte) (call *scheduler.Call, herr *httpError) {
	defer func() {
		if p := recover(); p != nil { // a decoder bug must not take the master down
			call, herr = nil, badRequest("Failed to parse body into Call: %v", p)
		}
	}()
	call = new(scheduler.Call)
	if err := unmarshalMessage(media, body, call); err != nil {
		return nil, badRequest("Failed to parse body into Call: %v", err)
	}
	if err := validateCall(call); err != nil {
		return nil, err
	}
	return call, nil
}

// authorized checks HTTP basic credentials when authentication is on.
func (c *Cluster) authorized(r *http.Request) *httpError {
	if c.cfg.Auth == nil {
		return nil
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return &httpError{http.StatusUnauthorized, "Authentication required"}
	}
	u := subtle.ConstantTimeCompare([]byte(user), []byte(c.cfg.Auth.Principal))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(c.cfg.Auth.Secret))
	if u&p != 1 {
		return &httpError{http.StatusUnauthorized, "Authentication failed"}
	}
	return nil
}

// serveMaster is the handler of /api/v1/scheduler on master i: after
// authentication, a master that does not lead answers 307 with a
// protocol-relative Location of the leader, and every master answers 503
// during an election, as Mesos masters do.
func (c *Cluster) serveMaster(i int, w http.ResponseWriter, r *http.Request) {
	if herr := c.authorized(r); herr != nil {
		writeError(w, herr)
		return
	}
	c.mu.Lock()
	leader, noLeader := c.leader, time.Now().Before(c.noLeader)
	leaderAddr := c.masters[leader].addr
	c.mu.Unlock()
	switch {
	case noLeader:
		writeError(w, &httpError{http.StatusServiceUnavailable, "No leader elected"})
	case i != leader:
		w.Header().Set("Location", "//"+leaderAddr+SchedulerPath)
		w.WriteHeader(http.StatusTemporaryRedirect)
	default:
		c.serveScheduler(w, r)
	}
}

// serveScheduler serves a call on the leading master.
func (c *Cluster) serveScheduler(w http.ResponseWriter, r *http.Request) {
	call, ok := readCall(w, r, decodeCall)
	if !ok {
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		c.subscribe(w, r, call)
		return
	}
	if herr := c.handleCall(r.Header.Get("Mesos-Stream-Id"), call); herr != nil {
		c.log.Debug("call rejected", "type", call.Type.String(), "code", herr.code, "msg", herr.msg)
		writeError(w, herr)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
