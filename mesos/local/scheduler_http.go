package local

import (
	"crypto/subtle"
	"encoding/base64"
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
	code  int
	msg   string
	allow string // the Allow header of a 405
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.code, http.StatusText(e.code), e.msg)
}

func badRequest(format string, args ...any) *httpError {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *httpError) {
	if e.code == http.StatusUnauthorized {
		// The master's realm for HTTP frameworks,
		// DEFAULT_HTTP_FRAMEWORK_AUTHENTICATION_REALM (src/master/constants.hpp).
		w.Header().Set("WWW-Authenticate", `Basic realm="mesos-master-scheduler"`)
	}
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(e.code)
	_, _ = io.WriteString(w, e.msg)
}

// requestMedia checks the method and Content-Type of a v1 API call as
// Master::Http::scheduler (src/master/http.cpp) does and returns the
// body's media type. The Content-Type is compared exactly: parameters
// (`; charset=utf-8`) or another case get 415, as from a real master.
func requestMedia(r *http.Request) (string, *httpError) {
	if r.Method != http.MethodPost {
		// libprocess's MethodNotAllowed (3rdparty/libprocess/include/process/http.hpp).
		return "", &httpError{code: http.StatusMethodNotAllowed, allow: http.MethodPost,
			msg: fmt.Sprintf("405 Method Not Allowed. Expecting one of { 'POST' }, but received '%s'.", r.Method)}
	}
	ct, ok := r.Header["Content-Type"]
	if !ok {
		return "", badRequest("Expecting 'Content-Type' to be present")
	}
	switch ct[0] {
	case mediaJSON, mediaProtobuf:
		return ct[0], nil
	}
	return "", &httpError{code: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("Expecting 'Content-Type' of %s or %s", mediaJSON, mediaProtobuf)}
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
	return "", &httpError{code: http.StatusNotAcceptable, msg: fmt.Sprintf("Expecting 'Accept' to allow '%s' or '%s'", mediaProtobuf, mediaJSON)}
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
			return nil, &httpError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("Request body larger than %d bytes", maxBodyBytes)}
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
// (exactly "application/json" or "application/x-protobuf", as the master
// compares it) and validates it the way the master does before acting on
// it. It never panics and is exported for tools and fuzzing.
func DecodeCall(contentType string, body []byte) (*scheduler.Call, error) {
	if contentType != mediaJSON && contentType != mediaProtobuf {
		return nil, fmt.Errorf("local: unsupported content type %q: want exactly %s or %s", contentType, mediaJSON, mediaProtobuf)
	}
	call, herr := decodeCall(contentType, body, "")
	if herr != nil {
		return nil, fmt.Errorf("local: %s", herr.msg)
	}
	return call, nil
}

// authenticate checks HTTP basic credentials when authentication is on, as
// libprocess's BasicAuthenticatorProcess::authenticate
// (3rdparty/libprocess/src/authenticator.cpp) does, and returns the
// authenticated principal ("" when authentication is off).
func (c *Cluster) authenticate(r *http.Request) (string, *httpError) {
	if c.cfg.Auth == nil {
		return "", nil
	}
	unauthorized := &httpError{code: http.StatusUnauthorized, msg: "401 Unauthorized."}
	h, ok := r.Header["Authorization"]
	if !ok {
		return "", unauthorized
	}
	parts := strings.Split(h[0], " ")
	if len(parts) != 2 || parts[0] != "Basic" {
		return "", unauthorized
	}
	decoded, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil {
		return "", unauthorized
	}
	cred := strings.Split(string(decoded), ":")
	if len(cred) != 2 {
		return "", unauthorized
	}
	u := subtle.ConstantTimeCompare([]byte(cred[0]), []byte(c.cfg.Auth.Principal))
	p := subtle.ConstantTimeCompare([]byte(cred[1]), []byte(c.cfg.Auth.Secret))
	if u&p != 1 {
		return "", unauthorized
	}
	return cred[0], nil
}

// serveMaster is the handler of /api/v1/scheduler on master i: after
// authentication, a master that does not lead answers 307 with a
// protocol-relative Location of the leader, and every master answers 503
// during an election, as Mesos masters do.
func (c *Cluster) serveMaster(i int, w http.ResponseWriter, r *http.Request) {
	principal, herr := c.authenticate(r)
	if herr != nil {
		writeError(w, herr)
		return
	}
	c.mu.Lock()
	leader, noLeader := c.leader, time.Now().Before(c.noLeader)
	leaderAddr := c.masters[leader].addr
	c.mu.Unlock()
	switch {
	case noLeader:
		writeError(w, &httpError{code: http.StatusServiceUnavailable, msg: "No leader elected"})
	case i != leader:
		// Master::Http::redirect (src/master/http.cpp): the leader's
		// protocol-relative base with the request's path and query.
		w.Header().Set("Location", "//"+leaderAddr+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	default:
		c.serveScheduler(w, r, principal)
	}
}

// serveScheduler serves a call on the leading master.
func (c *Cluster) serveScheduler(w http.ResponseWriter, r *http.Request, principal string) {
	call, ok := readCall(w, r, func(media string, body []byte) (*scheduler.Call, *httpError) {
		return decodeCall(media, body, principal)
	})
	if !ok {
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		c.subscribe(w, r, call, principal)
		return
	}
	if call.Type == scheduler.Call_RECONCILE_OPERATIONS {
		// The master picks a response encoding for it too (406 if none).
		if _, herr := acceptMedia(r); herr != nil {
			writeError(w, herr)
			return
		}
	}
	code, herr := c.handleCall(r.Header, call)
	if herr != nil {
		c.log.Debug("call rejected", "type", call.Type.String(), "code", herr.code, "msg", herr.msg)
		writeError(w, herr)
		return
	}
	w.WriteHeader(code)
}
