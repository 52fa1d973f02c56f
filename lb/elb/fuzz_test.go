package elb_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
)

// FuzzGetMetricDataResponse feeds arbitrary bytes to the real CloudWatch
// client as a GetMetricData answer (HTTP 200, application/cbor) and checks
// what the driver makes of whatever the SDK decodes: no panic, and a
// reading it accepts is sane (At inside the read window, the counter never
// going down over two readings). The seed corpus in
// testdata/fuzz/FuzzGetMetricDataResponse holds well-formed answers
// (complete, paginated, indefinite-length as the SDK's own snapshot),
// answers with bad statuses, NaN and negative values, mismatched lists,
// and garbage.
func FuzzGetMetricDataResponse(f *testing.F) {
	f.Add(cbor.Encode(cbor.Map{"MetricDataResults": cbor.List{cbor.Map{
		"Id": cbor.String("requests"), "StatusCode": cbor.String("Complete"),
		"Timestamps": cbor.List{&cbor.Tag{ID: 1, Value: cbor.Float64(float64(t0.Add(-5 * time.Minute).Unix()))}},
		"Values":     cbor.List{cbor.Float64(42)},
	}}}))
	s := elbtest.New(f, t0)
	s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{albARN}, TargetType: "ip", Protocol: "HTTP", Port: 80})
	ac := s.AWSConfig()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, body []byte) {
		now := t0
		b, err := elb.New(context.Background(), elb.Config{
			TargetGroupARN: tgARN, TargetType: elb.TargetIP, LoadBalancer: albDim,
			AWS: &ac, Logger: quiet, Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		s.SetRawMetricReply(body)
		first, err1 := b.Stats(context.Background())
		now = now.Add(time.Minute)
		second, err2 := b.Stats(context.Background())
		for i, r := range []struct {
			err  error
			at   time.Time
			n    uint64
			read time.Time
		}{{err1, first.At, first.Requests, t0}, {err2, second.At, second.Requests, now}} {
			if r.err != nil {
				continue
			}
			end := r.read.Add(-2 * time.Minute)
			if r.at.IsZero() || r.at.After(end) || r.at.Before(end.Add(-10*time.Minute)) {
				t.Fatalf("reading %d: At %s outside the read window ending %s", i, r.at, end)
			}
		}
		if err1 == nil && err2 == nil && (second.Requests < first.Requests || second.At.Before(first.At)) {
			t.Fatalf("counter went back: %d at %s, then %d at %s", first.Requests, first.At, second.Requests, second.At)
		}
	})
}

// TestGetMetricDataAnswers pins what the driver makes of each answer in
// the fuzz seed corpus.
func TestGetMetricDataAnswers(t *testing.T) {
	tests := []struct {
		seed    string
		want    uint64
		wantErr string
	}{
		{"complete", 60, ""},
		{"integer-timestamps", 7, ""},
		// Only corrupt or out-of-window datapoints: no data, which the
		// default Config.Missing holds on, rather than zero requests.
		{"nan-negative-inf", 0, "data too old"},
		{"future-and-ancient", 0, "data too old"},
		{"partial-with-token", 0, "NextToken repeats"},
		{"partial-without-token", 0, "PartialData without a NextToken"},
		{"internal-error", 0, "InternalError (InternalError: try again)"},
		{"forbidden", 0, "Forbidden"},
		{"mismatched-lists", 0, "2 timestamps and 1 values"},
		{"other-id", 0, `no result for query "requests"`},
		{"empty-map", 0, `no result for query "requests"`},
		{"empty", 0, `no result for query "requests"`},
		{"sdk-snapshot-indefinite", 0, `no result for query "requests"`},
		{"garbage", 0, "deserialization failed"},
	}
	s := fakeALB(t, "ip")
	for _, tc := range tests {
		t.Run(tc.seed, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata/fuzz/FuzzGetMetricDataResponse", tc.seed))
			if err != nil {
				t.Fatal(err)
			}
			lit := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[1]), "[]byte("), ")")
			body, err := strconv.Unquote(lit)
			if err != nil {
				t.Fatalf("corpus file: %v", err)
			}
			s.SetRawMetricReply([]byte(body))
			b := newBalancer(t, s, elb.Config{TargetType: elb.TargetIP, LoadBalancer: albDim})
			got, err := b.Stats(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Stats = %v, want %d requests", err, tc.want)
			case tc.wantErr == "" && got.Requests != tc.want:
				t.Fatalf("Stats = %d requests, want %d", got.Requests, tc.want)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Stats = %+v, %v; want an error containing %q", got, err, tc.wantErr)
			}
		})
	}
}
