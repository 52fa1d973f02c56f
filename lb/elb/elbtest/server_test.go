package elbtest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

const goodAuth = "AWS4-HMAC-SHA256 Credential=AKIAFAKEAWSTEST00001/20261128/us-west-2/monitoring/aws4_request, SignedHeaders=host;x-amz-date, Signature=" +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func getMetricDataBody(t *testing.T) []byte {
	t.Helper()
	return cbor.Encode(cbor.Map{
		"StartTime": &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t0.Add(-10 * time.Minute).Unix()))},
		"EndTime":   &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t0.Unix()))},
		"MetricDataQueries": cbor.List{cbor.Map{
			"Id": cbor.String("q"),
			"MetricStat": cbor.Map{
				"Metric": cbor.Map{"Namespace": cbor.String("AWS/ApplicationELB"), "MetricName": cbor.String("RequestCount"),
					"Dimensions": cbor.List{cbor.Map{"Name": cbor.String("LoadBalancer"), "Value": cbor.String("app/a/1")}}},
				"Period": cbor.Uint(60), "Stat": cbor.String("Sum"),
			},
		}},
	})
}

func post(t *testing.T, s *Server, path, auth, encoding string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/cbor")
	req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	req.Header.Set("X-Amz-Date", "20261128T120000Z")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

const cwPath = "/service/GraniteServiceVersion20100801/operation/GetMetricData"

func TestGetMetricDataGzipBody(t *testing.T) {
	s := New(t, t0)
	s.PutMetric("AWS/ApplicationELB", "RequestCount", map[string]string{"LoadBalancer": "app/a/1"}, t0.Add(-3*time.Minute), 5)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(getMetricDataBody(t))
	_ = zw.Close()
	status, body, _ := post(t, s, cwPath, goodAuth, "gzip", z.Bytes())
	if status != http.StatusOK {
		t.Fatalf("gzip request: %d %q", status, body)
	}
	v, err := cbor.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	res := v.(cbor.Map)["MetricDataResults"].(cbor.List)[0].(cbor.Map)
	if vs := res["Values"].(cbor.List); len(vs) != 1 || vs[0] != cbor.Float64(5) {
		t.Errorf("values = %v, want [5]", vs)
	}
}

func TestRejectsBadRequests(t *testing.T) {
	tests := []struct {
		name     string
		auth     string
		path     string
		body     []byte
		status   int
		wantCode string
	}{
		{"unsigned", "", cwPath, nil, 403, "MissingAuthenticationToken"},
		{"signed for another service", strings.Replace(goodAuth, "/monitoring/", "/elasticloadbalancing/", 1), cwPath, nil, 403, "SignatureDoesNotMatch"},
		{"signed for another region", strings.Replace(goodAuth, "/us-west-2/", "/eu-west-1/", 1), cwPath, nil, 403, "SignatureDoesNotMatch"},
		{"unknown operation", goodAuth, "/service/GraniteServiceVersion20100801/operation/PutMetricData", nil, 400, "UnknownOperationException"},
		{"not CBOR", goodAuth, cwPath, []byte("{}"), 400, "SerializationException"},
		{"no queries", goodAuth, cwPath, cbor.Encode(cbor.Map{
			"StartTime": &cbor.Tag{ID: 1, Value: cbor.Float64(1)}, "EndTime": &cbor.Tag{ID: 1, Value: cbor.Float64(2)},
		}), 400, "ValidationError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, t0)
			status, body, hdr := post(t, s, tc.path, tc.auth, "", tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%q)", status, tc.status, body)
			}
			v, err := cbor.Decode(body)
			if err != nil {
				t.Fatalf("error body is not CBOR: %v", err)
			}
			if typ := v.(cbor.Map)["__type"].(cbor.String); !strings.HasSuffix(string(typ), "#"+tc.wantCode) {
				t.Errorf("__type = %q, want …#%s", typ, tc.wantCode)
			}
			if q := hdr.Get("X-Amzn-Query-Error"); !strings.HasPrefix(q, tc.wantCode+";") {
				t.Errorf("x-amzn-query-error = %q", q)
			}
		})
	}
}
