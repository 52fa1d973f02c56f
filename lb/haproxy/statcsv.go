package haproxy

import (
	"fmt"
	"strconv"
	"strings"
)

// Row types in `show stat` (the "type" column).
const (
	typeFrontend = 0
	typeBackend  = 1
	typeServer   = 2
	typeListener = 3
)

// statRow is one row of `show stat`, reduced to the columns the driver
// reads. Empty numeric cells read as 0.
type statRow struct {
	proxy, name string
	typ         int
	status      string
	addr        string // "ip:port" (IPv6 in brackets) for servers
	mode, algo  string
	qcur, scur  int64
	slim        int64 // the server's maxconn; 0 if none
	stot        uint64
	reqTot      uint64
	hrsp5xx     uint64 // responses with a 5xx status (HTTP mode)
	weight      int64
}

// counter returns the row's cumulative request count: req_tot in HTTP
// mode, sessions (stot) in TCP mode.
func (r statRow) counter() uint64 {
	if r.mode == "tcp" {
		return r.stot
	}
	return r.reqTot
}

// processInfo is what the driver reads from `show info`.
type processInfo struct {
	pid       int
	startSec  int64 // Start_time_sec: the process start, Unix seconds
	uptimeSec int64
	version   string
}

// reply is a parsed answer to a batch of `show info` / `show stat`
// commands.
type reply struct {
	info    processInfo
	hasInfo bool
	rows    []statRow
}

// parseReply parses HAProxy's answer to "show info;show stat …" commands
// (in any number and order). A line "[0]:" to "[3]:" is an error from
// HAProxy and fails the parse; so does a CSV row that does not match its
// header or a malformed number in a column the driver reads.
func parseReply(out string) (reply, error) {
	var (
		r      reply
		header *columns // while inside a CSV block
		lineNo int
	)
	r.rows = make([]statRow, 0, strings.Count(out, "\n"))
	for line := range strings.SplitSeq(out, "\n") {
		lineNo++
		line = strings.TrimRight(line, "\r")
		if line == "" {
			header = nil
			continue
		}
		if err := severityError(line); err != nil {
			return reply{}, err
		}
		if len(line) >= 4 && line[0] == '[' && line[2] == ']' && line[3] == ':' {
			continue // a warning or notice
		}
		if h, ok := strings.CutPrefix(line, "# "); ok {
			cols, err := splitCSV(h)
			if err != nil {
				return reply{}, fmt.Errorf("line %d: stat header: %w", lineNo, err)
			}
			header = newColumns(cols)
			for c, need := range columnNames[:3] {
				if header.index[c] < 0 {
					return reply{}, fmt.Errorf("line %d: stat header lacks %q", lineNo, need)
				}
			}
			continue
		}
		if header != nil {
			row, err := parseRow(header, line)
			if err != nil {
				return reply{}, fmt.Errorf("line %d: %w", lineNo, err)
			}
			r.rows = append(r.rows, row)
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Pid":
			r.hasInfo = true
			r.info.pid, err = strconv.Atoi(val)
		case "Start_time_sec":
			r.info.startSec, err = strconv.ParseInt(val, 10, 64)
		case "Uptime_sec":
			r.info.uptimeSec, err = strconv.ParseInt(val, 10, 64)
		case "Version":
			r.info.version = val
		}
		if err != nil {
			return reply{}, fmt.Errorf("line %d: show info %s: %w", lineNo, key, err)
		}
	}
	return r, nil
}

// The columns the driver reads, in the order of columns.index.
var columnNames = [...]string{"pxname", "svname", "type", "status", "addr", "mode", "algo", "qcur", "scur", "slim", "stot", "req_tot", "weight", "hrsp_5xx"}

const (
	colPxname = iota
	colSvname
	colType
	colStatus
	colAddr
	colMode
	colAlgo
	colQcur
	colScur
	colSlim
	colStot
	colReqTot
	colWeight
	colHrsp5xx
	numColumns
)

// columns maps a CSV header to the columns the driver reads.
type columns struct {
	index [numColumns]int // position in the row, -1 if absent
	want  []int           // for each position, the column + 1, or 0
	last  int             // the last position read
}

func newColumns(header []string) *columns {
	c := &columns{want: make([]int, len(header))}
	for i := range c.index {
		c.index[i] = -1
	}
	for pos, name := range header {
		for col, n := range columnNames {
			if n == name && c.index[col] < 0 {
				c.index[col] = pos
				c.want[pos] = col + 1
				c.last = max(c.last, pos)
			}
		}
	}
	return c
}

// cells returns the columns the driver reads from one row. Bare rows (no
// quote, the usual case) are cut without copying or splitting every field.
func (c *columns) cells(line string) ([numColumns]string, error) {
	var out [numColumns]string
	if strings.IndexByte(line, '"') >= 0 {
		fields, err := splitCSV(line)
		if err != nil {
			return out, err
		}
		for col, pos := range c.index {
			if pos >= 0 && pos < len(fields) {
				out[col] = fields[pos]
			}
		}
		return out, nil
	}
	for pos := 0; pos <= c.last && line != ""; pos++ {
		field, rest, _ := strings.Cut(line, ",")
		if col := c.want[pos]; col > 0 {
			out[col-1] = field
		}
		line = rest
	}
	return out, nil
}

func parseRow(c *columns, line string) (statRow, error) {
	cell, err := c.cells(line)
	if err != nil {
		return statRow{}, err
	}
	var row statRow
	row.proxy, row.name = cell[colPxname], cell[colSvname]
	if row.proxy == "" || row.name == "" {
		return statRow{}, fmt.Errorf("stat row without pxname/svname: %.80q", line)
	}
	row.status, row.addr, row.mode, row.algo = cell[colStatus], cell[colAddr], cell[colMode], cell[colAlgo]
	var typ int64
	for _, f := range []struct {
		col int
		dst *int64
	}{{colType, &typ}, {colQcur, &row.qcur}, {colScur, &row.scur}, {colSlim, &row.slim}, {colWeight, &row.weight}} {
		v := cell[f.col]
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return statRow{}, fmt.Errorf("%s/%s: column %s = %q, want a number ≥ 0", row.proxy, row.name, columnNames[f.col], v)
		}
		*f.dst = n
	}
	if typ > typeListener {
		return statRow{}, fmt.Errorf("%s/%s: type %d unknown", row.proxy, row.name, typ)
	}
	row.typ = int(typ)
	for _, f := range []struct {
		col int
		dst *uint64
	}{{colStot, &row.stot}, {colReqTot, &row.reqTot}, {colHrsp5xx, &row.hrsp5xx}} {
		v := cell[f.col]
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return statRow{}, fmt.Errorf("%s/%s: column %s = %q, want a counter", row.proxy, row.name, columnNames[f.col], v)
		}
		*f.dst = n
	}
	return row, nil
}

// splitCSV splits one line of HAProxy's CSV. HAProxy quotes a field that
// holds a comma or a quote ("a,b" and "say ""hi""" style), as RFC 4180
// does; other fields are bare.
func splitCSV(line string) ([]string, error) {
	var (
		out []string
		b   strings.Builder
	)
	for i := 0; i <= len(line); {
		if i == len(line) {
			out = append(out, "")
			break
		}
		if line[i] != '"' {
			j := strings.IndexByte(line[i:], ',')
			if j < 0 {
				out = append(out, line[i:])
				break
			}
			out = append(out, line[i:i+j])
			i += j + 1
			continue
		}
		b.Reset()
		i++
		for {
			if i >= len(line) {
				return nil, fmt.Errorf("unterminated quoted field in %.80q", line)
			}
			c := line[i]
			if c == '"' {
				if i+1 < len(line) && line[i+1] == '"' {
					b.WriteByte('"')
					i += 2
					continue
				}
				i++
				break
			}
			b.WriteByte(c)
			i++
		}
		out = append(out, b.String())
		if i == len(line) {
			break
		}
		if line[i] != ',' {
			return nil, fmt.Errorf("text after a quoted field in %.80q", line)
		}
		i++
		if i == len(line) {
			out = append(out, "")
			break
		}
	}
	return out, nil
}
