// Package elbtest is a fake AWS for tests of code that uses lb/elb: an
// in-process stand-in for CloudWatch (GetMetricData), Elastic Load
// Balancing v2 (target groups) and classic Elastic Load Balancing. It
// listens on loopback only and speaks the wire protocols the aws-sdk-go-v2
// clients speak, read from their serializers, so the real SDK clients (and
// the driver over them) run unchanged against it:
//
//	s := elbtest.New(t, time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
//	s.AddTargetGroup(elbtest.TargetGroup{ARN: arn, LoadBalancerARNs: []string{albARN},
//		TargetType: "ip", Port: 80, DeregistrationDelay: 300 * time.Second})
//	ac := s.AWSConfig() // static credentials, BaseEndpoint, a fast retryer
//	b, err := elb.New(ctx, elb.Config{TargetGroupARN: arn, AWS: &ac, Now: s.Now})
//	s.PutMetric("AWS/ApplicationELB", "RequestCount", dims, minute, 1200)
//	s.Advance(time.Minute)
//
// The protocols:
//
//   - CloudWatch: Smithy RPCv2 CBOR, POST
//     /service/GraniteServiceVersion20100801/operation/<Op>, headers
//     Smithy-Protocol: rpc-v2-cbor and Content-Type: application/cbor, the
//     body possibly gzip-compressed; errors are a CBOR map with __type and
//     message plus the x-amzn-query-error header.
//   - ELBv2 (Version=2015-12-01) and classic ELB (Version=2012-06-01):
//     awsQuery, a form-encoded POST to / with Action=…, answered with
//     <OpResponse><OpResult>…</OpResult><ResponseMetadata/></OpResponse>
//     XML; errors are <ErrorResponse><Error><Type/><Code/><Message/>.
//
// Every request must carry a SigV4 Authorization header whose credential
// scope names Region and the right signing service ("monitoring" or
// "elasticloadbalancing"); a request without one is answered 403 the way
// AWS would. Every answer carries an x-amzn-RequestId header (and awsQuery
// bodies a RequestId).
//
// The fake is as strict as AWS where the driver could be fooled; each rule
// cites the AWS page or SDK file it follows, on the code that applies it:
//
//   - CloudWatch has no datapoint for a metric or dimension set AWS does
//     not publish (PutMetric of one fails the test), and none, rather than
//     a zero, for a minute without traffic of a metric reported only when
//     non-zero (ALB RequestCount). See [Server.PutMetric], [Published].
//   - Target groups: "initial" for HealthyAfter, then "healthy";
//     deregistered targets "draining" for the whole deregistration delay,
//     then "unused"; an NLB keeps a drained target's flows open after
//     "unused" unless ConnectionTermination is set ([Server.SetFlows]);
//     DeregisterTargets of a target that is not registered succeeds; a
//     terminated instance makes DescribeTargetHealth that names it fail
//     with InvalidTarget ([Server.TerminateInstance]).
//   - Classic load balancers register instances only (no port), report a
//     draining instance "InService" with the description "Instance
//     deregistration currently in progress" until its connections end
//     ([Server.EndConnections]) or the draining timeout passes, and
//     describe their listeners' instance ports.
//
// Tests drive the fake's clock by hand ([Server.Advance],
// [Server.AdvanceOn]), inject faults ([Server.Fail]) and read what arrived
// ([Server.Calls]). A Server is safe for concurrent use.
package elbtest

import (
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Region is the region the fake accepts in credential scopes.
const Region = "us-west-2"

// Server is a fake CloudWatch + ELBv2 + classic ELB endpoint.
type Server struct {
	// URL is the endpoint to pass as BaseEndpoint.
	URL string

	srv *httptest.Server
	tb  testing.TB

	mu      sync.Mutex
	reqSeq  uint64 // requests answered, for request IDs
	lastID  string
	now     time.Time
	groups  map[string]*TargetGroup
	classic map[string]*ClassicLB
	// terminated holds the EC2 instances TerminateInstance ended.
	terminated map[string]bool
	metrics    map[string][]datapoint
	faults     []*fault
	calls      map[string]int
	// PageSize bounds datapoints per GetMetricData page (0: no limit).
	pageSize int
	// statusOverride makes a GetMetricData result carry this status.
	statusOverride string
	rawMetricReply []byte
	seenAuth       []string
	advanceOn      map[string]time.Duration
}

type datapoint struct {
	t time.Time
	v float64
}

type fault struct {
	action string
	status int
	code   string
	left   int
}

// New starts a fake on 127.0.0.1 and closes it when the test ends. Its
// clock starts at start.
func New(t testing.TB, start time.Time) *Server {
	t.Helper()
	s := &Server{
		tb:      t,
		now:     start,
		groups:  map[string]*TargetGroup{},
		classic: map[string]*ClassicLB{},

		terminated: map[string]bool{},
		metrics:    map[string][]datapoint{},
		calls:      map[string]int{},

		advanceOn: map[string]time.Duration{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("elbtest: listen on loopback: %v", err)
	}
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: s}}
	s.srv.Start()
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Now returns the fake's clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Advance moves the fake's clock forward by d.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

// AdvanceOn makes every request for action move the fake's clock forward
// by d before it is answered, so that a caller that polls (WaitDrained)
// sees time pass without the test sleeping.
func (s *Server) AdvanceOn(action string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceOn[action] = d
}

// Fail makes the next n requests for action (an operation name such as
// "GetMetricData" or "RegisterTargets", or "*" for any) fail with the HTTP
// status and AWS error code given.
func (s *Server) Fail(action string, status int, code string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{action: action, status: status, code: code, left: n})
}

// ClearFaults drops every fault injected with Fail.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns how many requests for action arrived (failed ones
// included).
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// Authorizations returns the Authorization headers seen, in order.
func (s *Server) Authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seenAuth...)
}

var scopeRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`)

// LastRequestID returns the request ID of the newest answer.
func (s *Server) LastRequestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

// newRequestID returns a fresh request ID, a UUID as AWS's are.
func (s *Server) newRequestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqSeq++
	s.lastID = fmt.Sprintf("%08x-0000-4000-8000-%012x", s.reqSeq, s.reqSeq*0x9e3779b1)
	return s.lastID
}

// ServeHTTP dispatches on the protocol the request speaks. Every answer,
// error or not, carries a fresh request ID in the x-amzn-RequestId
// header, which the SDK reads (aws-sdk-go-v2 aws/middleware/
// request_id_retriever.go: "X-Amzn-Requestid") into its errors and
// result metadata; awsQuery bodies carry it too (<RequestId>).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", s.newRequestID())
	body, err := readBody(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	const cwPrefix = "/service/GraniteServiceVersion20100801/operation/"
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, cwPrefix):
		op := strings.TrimPrefix(r.URL.Path, cwPrefix)
		if !s.authorized(w, r, "monitoring", op, cborError) {
			return
		}
		s.serveCloudWatch(w, r, op, body)
	case r.Method == http.MethodPost && r.URL.Path == "/":
		s.serveQuery(w, r, body)
	default:
		http.Error(w, "elbtest: unknown endpoint "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(nil, r.Body, 1<<20)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("elbtest: gzip body: %w", err)
		}
		defer zr.Close()
		rd = zr
	}
	return io.ReadAll(io.LimitReader(rd, 1<<20))
}

type errorWriter func(w http.ResponseWriter, status int, code, msg string)

// authorized checks the SigV4 header, counts the call and applies any
// injected fault. It reports whether the request should be served.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, service, action string, fail errorWriter) bool {
	auth := r.Header.Get("Authorization")
	s.mu.Lock()
	s.calls[action]++
	s.now = s.now.Add(s.advanceOn[action])
	s.seenAuth = append(s.seenAuth, auth)
	var f *fault
	for _, x := range s.faults {
		if x.left > 0 && (x.action == action || x.action == "*") {
			x.left--
			f = x
			break
		}
	}
	s.mu.Unlock()
	m := scopeRE.FindStringSubmatch(auth)
	switch {
	case m == nil:
		fail(w, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return false
	case m[1] != Region || m[2] != service:
		fail(w, http.StatusForbidden, "SignatureDoesNotMatch",
			fmt.Sprintf("Credential should be scoped to a valid region and service %q, got %s/%s", service, m[1], m[2]))
		return false
	case r.Header.Get("X-Amz-Date") == "":
		fail(w, http.StatusForbidden, "IncompleteSignature", "X-Amz-Date missing")
		return false
	case f != nil:
		fail(w, f.status, f.code, "elbtest: injected "+f.code)
		return false
	}
	return true
}
