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
	stot        uint64
	reqTot      uint64
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
		header map[string]int // column → index, while inside a CSV block
		lineNo int
	)
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
			header = make(map[string]int, len(cols))
			for i, c := range cols {
				if _, dup := header[c]; !dup && c != "" {
					header[c] = i
				}
			}
			for _, need := range []string{"pxname", "svname", "type"} {
				if _, ok := header[need]; !ok {
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

func parseRow(header map[string]int, line string) (statRow, error) {
	cells, err := splitCSV(line)
	if err != nil {
		return statRow{}, err
	}
	cell := func(col string) string {
		if i, ok := header[col]; ok && i < len(cells) {
			return cells[i]
		}
		return ""
	}
	var row statRow
	row.proxy, row.name = cell("pxname"), cell("svname")
	if row.proxy == "" || row.name == "" {
		return statRow{}, fmt.Errorf("stat row without pxname/svname: %.80q", line)
	}
	row.status, row.addr, row.mode, row.algo = cell("status"), cell("addr"), cell("mode"), cell("algo")
	var typ int64
	for _, f := range []struct {
		col string
		dst *int64
	}{{"type", &typ}, {"qcur", &row.qcur}, {"scur", &row.scur}, {"weight", &row.weight}} {
		v := cell(f.col)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return statRow{}, fmt.Errorf("%s/%s: column %s = %q, want a number ≥ 0", row.proxy, row.name, f.col, v)
		}
		*f.dst = n
	}
	if typ > typeListener {
		return statRow{}, fmt.Errorf("%s/%s: type %d unknown", row.proxy, row.name, typ)
	}
	row.typ = int(typ)
	for _, f := range []struct {
		col string
		dst *uint64
	}{{"stot", &row.stot}, {"req_tot", &row.reqTot}} {
		v := cell(f.col)
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return statRow{}, fmt.Errorf("%s/%s: column %s = %q, want a counter", row.proxy, row.name, f.col, v)
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
