package recordio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error
	}{
		{name: "two records", in: "5\nhello3\nabc", want: []string{"hello", "abc"}, wantErr: io.EOF},
		{name: "empty input", in: "", wantErr: io.EOF},
		{name: "zero-length records are skipped", in: "0\n0\n2\nhi", want: []string{"hi"}, wantErr: io.EOF},
		{name: "truncated record", in: "5\nhel", wantErr: io.ErrUnexpectedEOF},
		{name: "truncated length", in: "12", wantErr: io.ErrUnexpectedEOF},
		{name: "too large", in: "1025\nx", wantErr: ErrTooLarge},
		{name: "2^63 does not wrap", in: "9223372036854775808\nx", wantErr: ErrTooLarge},
		{name: "uint64 overflow", in: "99999999999999999999\nx", wantErr: ErrTooLarge},
		{name: "letters", in: "1a\nx", wantErr: ErrBadLength},
		{name: "empty length line", in: "\nx", wantErr: ErrBadLength},
		{name: "negative", in: "-1\nx", wantErr: ErrBadLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), 1024)
			var got []string
			var err error
			for {
				var rec []byte
				rec, err = r.ReadRecord()
				if err != nil {
					break
				}
				got = append(got, string(rec))
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("records %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzReader: arbitrary bytes never panic or yield a record above the
// limit, and records written by Writer read back unchanged.
func FuzzReader(f *testing.F) {
	f.Add([]byte("5\nhello3\nabc"), uint8(3))
	f.Add([]byte("9223372036854775808\nx"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		r := NewReader(bytes.NewReader(data), 1<<10)
		for range len(data) + 1 {
			rec, err := r.ReadRecord()
			if err != nil {
				break
			}
			if len(rec) == 0 || len(rec) > 1<<10 {
				t.Fatalf("record of %d bytes", len(rec))
			}
		}
		var frames [][]byte
		step := int(split)%7 + 1
		for i := 0; i < len(data); i += step {
			frames = append(frames, data[i:min(i+step, len(data))])
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, fr := range frames {
			if err := w.WriteRecord(fr); err != nil {
				t.Fatal(err)
			}
		}
		r = NewReader(&buf, 0)
		for i, want := range frames {
			got, err := r.ReadRecord()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("record %d: got %q, %v; want %q", i, got, err, want)
			}
		}
		if _, err := r.ReadRecord(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last record: %v, want io.EOF", err)
		}
	})
}
