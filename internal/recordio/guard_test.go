package recordio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	mesosrecordio "github.com/mesos/mesos-go/api/v1/lib/recordio"
)

// chunked returns data in reads of at most step bytes.
type chunked struct {
	data []byte
	step int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.step)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func TestGuard(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		passed   string // what the guard lets through
		wantErr  error  // nil: clean io.EOF
		errParts []string
	}{
		{name: "two records", in: "5\nhello3\nabc", passed: "5\nhello3\nabc"},
		{name: "empty stream", in: "", passed: ""},
		{name: "zero-length records pass", in: "0\n2\nhi", passed: "0\n2\nhi"},
		{name: "record of exactly max", in: "16\n0123456789abcdef", passed: "16\n0123456789abcdef"},
		{name: "record over max", in: "5\nhello17\n0123456789abcdefg", passed: "5\nhello1",
			wantErr: ErrTooLarge, errParts: []string{"at byte 7", "over 16 bytes"}},
		{name: "2^63 stops before the newline", in: "9227000000000000000\n0", passed: "9",
			wantErr: ErrTooLarge, errParts: []string{"at byte 0"}},
		{name: "uint64 overflow", in: "99999999999999999999\nx", passed: "9", wantErr: ErrTooLarge},
		{name: "leading zeros beyond 20 digits", in: "000000000000000000001\nx", passed: "00000000000000000000",
			wantErr: ErrBadLength, errParts: []string{"more than 20 digits"}},
		{name: "negative length", in: "-1\nx", passed: "", wantErr: ErrBadLength},
		{name: "space in length", in: " 5\nhello", passed: "", wantErr: ErrBadLength},
		{name: "empty length line", in: "\nx", passed: "", wantErr: ErrBadLength, errParts: []string{"empty length line"}},
		{name: "bad byte after a record", in: "1\nxy", passed: "1\nx", wantErr: ErrBadLength, errParts: []string{"at byte 3", `'y'`}},
		{name: "ends inside a record", in: "5\nhel", passed: "5\nhel", wantErr: io.ErrUnexpectedEOF},
		{name: "ends inside a length", in: "1\nx12", passed: "1\nx12", wantErr: io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		for _, step := range []int{1, 3, 1 << 10} {
			t.Run(fmt.Sprintf("%s/reads of %d", tc.name, step), func(t *testing.T) {
				g := Guard(&chunked{data: []byte(tc.in), step: step}, 16)
				got, err := io.ReadAll(g)
				if string(got) != tc.passed {
					t.Errorf("passed %q, want %q", got, tc.passed)
				}
				if tc.wantErr == nil {
					if err != nil {
						t.Fatalf("error %v, want none", err)
					}
					return
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want errors.Is %v", err, tc.wantErr)
				}
				for _, part := range tc.errParts {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("error %q does not say %q", err, part)
					}
				}
				if n, err2 := g.Read(make([]byte, 8)); n != 0 || err2 != err {
					t.Errorf("Read after the error: %d, %v; want 0, the same error", n, err2)
				}
			})
		}
	}
}

func TestGuardDefaultMax(t *testing.T) {
	in := fmt.Sprintf("%d\n", DefaultMax+1)
	if _, err := io.ReadAll(Guard(strings.NewReader(in), 0)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("length DefaultMax+1 with max 0: %v, want ErrTooLarge", err)
	}
	in = fmt.Sprintf("%d\n", DefaultMax)
	if _, err := io.ReadAll(Guard(strings.NewReader(in), 0)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("length DefaultMax with max 0: %v, want it accepted (then io.ErrUnexpectedEOF)", err)
	}
}

// mesosGoFrames reads r with mesos-go v0.0.11's RecordIO reader, as its
// httpcli does for a SUBSCRIBE stream, and turns a panic into an error.
func mesosGoFrames(r io.Reader) (frames []string, panicked any, err error) {
	defer func() { panicked = recover() }()
	fr := mesosrecordio.NewReader(r)
	for range 1000 {
		var f []byte
		f, err = fr.ReadFrame()
		if err != nil {
			return frames, nil, err
		}
		frames = append(frames, string(f))
	}
	return frames, nil, errors.New("more than 1000 frames")
}

// TestGuardProtectsMesosGo runs the crashing input the fuzzer found in
// mesos/local (testdata/fuzz/FuzzReader/length-2pow63-mesos-go-panics)
// through mesos-go's reader, with and without the guard.
func TestGuardProtectsMesosGo(t *testing.T) {
	const evil = "9227000000000000000\n0"
	t.Run("mesos-go alone panics", func(t *testing.T) {
		_, p, _ := mesosGoFrames(strings.NewReader(evil))
		if p == nil {
			t.Fatal("mesos-go's reader no longer panics on a 2^63 length: the upstream bug is fixed; Guard stays as a check")
		}
		t.Logf("mesos-go panicked: %v", p)
	})
	t.Run("guarded", func(t *testing.T) {
		frames, p, err := mesosGoFrames(Guard(strings.NewReader("3\nabc"+evil), 0))
		if p != nil {
			t.Fatalf("panic through the guard: %v", p)
		}
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v, want ErrTooLarge", err)
		}
		// mesos-go returns a frame read together with an error as the
		// error alone: "abc" may or may not come first.
		if len(frames) > 1 || (len(frames) == 1 && frames[0] != "abc") {
			t.Fatalf("frames %q, want at most the one before the bad length", frames)
		}
	})
}

// FuzzGuard: whatever the bytes and read sizes, the guard passes a prefix
// of its input, all of it when it reports no error, and mesos-go's reader
// behind it never panics and yields the records our Reader yields.
func FuzzGuard(f *testing.F) {
	f.Add([]byte("5\nhello3\nabc"), uint8(3))
	f.Add([]byte("9227000000000000000\n0"), uint8(15))
	f.Add([]byte("99999999999999999999\nx"), uint8(1))
	f.Add([]byte("0\n0\n"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		const max = 1 << 10
		step := int(split)%7 + 1
		passed, err := io.ReadAll(Guard(&chunked{data: data, step: step}, max))
		if !bytes.HasPrefix(data, passed) {
			t.Fatalf("passed %q, not a prefix of the input", passed)
		}
		if err == nil && len(passed) != len(data) {
			t.Fatalf("no error but passed %d of %d bytes", len(passed), len(data))
		}
		got, p, _ := mesosGoFrames(iotest.HalfReader(Guard(&chunked{data: data, step: step}, max)))
		if p != nil {
			t.Fatalf("mesos-go panicked behind the guard: %v", p)
		}
		var want []string
		r := NewReader(bytes.NewReader(passed), max)
		for range len(passed) + 1 {
			rec, err := r.ReadRecord()
			if err != nil {
				break
			}
			want = append(want, string(rec))
		}
		if len(got) > len(want) || strings.Join(got, "\x00") != strings.Join(want[:len(got)], "\x00") {
			t.Fatalf("mesos-go read %q behind the guard, our Reader %q", got, want)
		}
	})
}
