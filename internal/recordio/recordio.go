// Package recordio reads and writes RecordIO, the framing of Mesos v1 event
// streams: each record is its length in decimal ASCII, a newline, then the
// record's bytes.
//
// Usage:
//
//	w := recordio.NewWriter(conn)
//	err := w.WriteRecord(event)
//	r := recordio.NewReader(body, 4<<20)
//	rec, err := r.ReadRecord()
//
// Unlike mesos-go v0.0.11's reader (whose size check converts the length to
// int, so a length of 2^63 or more turns negative and panics), the Reader
// rejects any length above its limit before allocating.
//
// Guard protects a reader that cannot be fixed, such as mesos-go's: it
// passes a stream through unchanged while checking its framing, and ends it
// with an error at the first bad length, before the consumer sees that
// length's newline:
//
//	body = recordio.Guard(resp.Body, 4<<20) // then hand body to mesos-go
package recordio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrTooLarge is returned (wrapped) for a record longer than the limit.
var ErrTooLarge = errors.New("recordio: record too large")

// ErrBadLength is returned (wrapped) for a malformed length line.
var ErrBadLength = errors.New("recordio: malformed record length")

// maxLengthDigits is the number of digits of the largest uint64.
const maxLengthDigits = 20

// Writer writes records to an io.Writer.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteRecord writes one record (header and bytes in a single Write). A
// record of length 0 is written as "0\n", which readers skip.
func (w *Writer) WriteRecord(rec []byte) error {
	w.buf = strconv.AppendInt(w.buf[:0], int64(len(rec)), 10)
	w.buf = append(w.buf, '\n')
	w.buf = append(w.buf, rec...)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("recordio: write: %w", err)
	}
	return nil
}

// Reader reads records from an io.Reader.
type Reader struct {
	r   *bufio.Reader
	max int
}

// NewReader returns a Reader on r that refuses records longer than max
// bytes (max <= 0 means 4 MiB, mesos-go's limit).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMax
	}
	return &Reader{r: bufio.NewReader(r), max: max}
}

// ReadRecord returns the next non-empty record. It returns io.EOF at a clean
// end of input, io.ErrUnexpectedEOF inside a record, and an error wrapping
// ErrBadLength or ErrTooLarge for bad headers.
func (r *Reader) ReadRecord() ([]byte, error) {
	for {
		n, err := r.readLength()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		rec := make([]byte, n)
		if _, err := io.ReadFull(r.r, rec); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("recordio: record of %d bytes: %w", n, err)
		}
		return rec, nil
	}
}

func (r *Reader) readLength() (int, error) {
	var h header
	for {
		b, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if h.digits == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("recordio: length: %w", io.ErrUnexpectedEOF)
			}
			return 0, fmt.Errorf("recordio: %w", err)
		}
		done, err := h.add(b, r.max)
		if err != nil {
			return 0, err
		}
		if done {
			return int(h.n), nil
		}
	}
}

// header parses one length line, a byte at a time.
type header struct {
	n      uint64
	digits int
}

// add consumes the next byte of a length line. It reports whether b ended
// the line (h.n is then the length), or an error wrapping ErrBadLength or
// ErrTooLarge as soon as the line cannot be valid: a length is refused at
// the digit that takes it over max, so it never overflows.
func (h *header) add(b byte, max int) (done bool, err error) {
	switch {
	case b == '\n':
		if h.digits == 0 {
			return false, fmt.Errorf("%w: empty length line", ErrBadLength)
		}
		return true, nil
	case b >= '0' && b <= '9':
		h.digits++
		if h.digits > maxLengthDigits {
			return false, fmt.Errorf("%w: more than %d digits", ErrBadLength, maxLengthDigits)
		}
		h.n = h.n*10 + uint64(b-'0')
		if h.n > uint64(max) {
			return false, fmt.Errorf("%w: length over %d bytes", ErrTooLarge, max)
		}
		return false, nil
	default:
		return false, fmt.Errorf("%w: byte %q", ErrBadLength, b)
	}
}
