package recordio

import (
	"errors"
	"fmt"
	"io"
)

// DefaultMax is the record size limit used when a limit of zero or less is
// given: 4 MiB, the frame limit of mesos-go v0.0.11.
const DefaultMax = 4 << 20

// GuardReader passes a RecordIO stream through unchanged while checking
// its framing; see [Guard].
type GuardReader struct {
	r      io.Reader
	max    int
	h      header
	inHdr  bool   // a length line has started
	remain uint64 // bytes of the current record still to pass
	off    int64  // bytes passed so far
	hdrAt  int64  // offset of the current length line
	err    error  // sticky
}

// Guard returns a reader that yields r's bytes unchanged as long as they
// are well-framed RecordIO with no record longer than max bytes (max <= 0
// means [DefaultMax]). At the first byte that makes a length line invalid
// (not a digit or newline, more than 20 digits, an empty line, or a
// length over max) it stops: Read returns the bytes before that one and an
// error wrapping [ErrBadLength] or [ErrTooLarge] that gives the line's
// offset, and every later Read returns the same error. The newline of a
// bad length line is therefore never passed on, so a reader downstream
// never acts on it. A stream that ends inside a length line or a record
// yields an error wrapping io.ErrUnexpectedEOF instead of io.EOF.
//
// Guard checks the framing only; it does not buffer or copy records.
func Guard(r io.Reader, max int) *GuardReader {
	if max <= 0 {
		max = DefaultMax
	}
	return &GuardReader{r: r, max: max}
}

// Read implements io.Reader.
func (g *GuardReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	for i := 0; i < n; {
		if g.remain > 0 {
			skip := uint64(n - i)
			if g.remain < skip {
				skip = g.remain
			}
			g.remain -= skip
			i += int(skip)
			continue
		}
		if !g.inHdr {
			g.inHdr, g.hdrAt = true, g.off+int64(i)
		}
		done, herr := g.h.add(p[i], g.max)
		if herr != nil {
			g.err = fmt.Errorf("length line at byte %d: %w", g.hdrAt, herr)
			g.off += int64(i)
			return i, g.err
		}
		i++
		if done {
			g.remain = g.h.n
			g.h, g.inHdr = header{}, false
		}
	}
	g.off += int64(n)
	if errors.Is(err, io.EOF) && (g.inHdr || g.remain > 0) {
		g.err = fmt.Errorf("recordio: stream ends inside a record (at byte %d): %w", g.off, io.ErrUnexpectedEOF)
		return n, g.err
	}
	if err != nil {
		g.err = err
	}
	return n, err
}
