package haproxy

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readSeed returns the string in a fuzz corpus file.
func readSeed(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParseReply", name))
	if err != nil {
		t.Fatal(err)
	}
	_, lit, _ := strings.Cut(string(b), "string(")
	lit = strings.TrimSuffix(strings.TrimSpace(lit), ")")
	s, err := strconv.Unquote(lit)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

func TestParseReplyRealOutput(t *testing.T) {
	r, err := parseReply(readSeed(t, "real_http_servers"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.hasInfo || r.info.pid == 0 || r.info.startSec == 0 || !strings.HasPrefix(r.info.version, "2.6") {
		t.Errorf("info = %+v, want pid, start time and a 2.6 version", r.info)
	}
	type brief struct {
		proxy, name string
		typ         int
		status      string
		addr        string
		reqTot      uint64
	}
	var got []brief
	for _, row := range r.rows {
		got = append(got, brief{row.proxy, row.name, row.typ, row.status, row.addr, row.reqTot})
	}
	want := []brief{
		{"webfarm", "static_1", typeServer, "DOWN", "127.0.0.1:18097", 0},
		{"webfarm", "web.1", typeServer, "no check", "127.0.0.1:18081", 0}, // nothing listened: no request reached it
		{"webfarm", "task_5F2", typeServer, "DRAIN", "[::1]:18082", 0},
		{"webfarm", "m3", typeServer, "MAINT", "127.0.0.1:18083", 0},
		{"webfarm", "BACKEND", typeBackend, "UP", "", 2},
		{"http-in", "FRONTEND", typeFrontend, "OPEN", "", 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", got, want)
	}
	for _, row := range r.rows {
		if row.mode != "http" {
			t.Errorf("%s/%s mode = %q, want http", row.proxy, row.name, row.mode)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // "" means success
		check   func(t *testing.T, r reply)
	}{
		{"empty answer", "", "", func(t *testing.T, r reply) {
			if r.hasInfo || len(r.rows) != 0 {
				t.Errorf("got %+v, want nothing", r)
			}
		}},
		{"haproxy error", "[3]: No such proxy.\n", "No such proxy", nil},
		{"warning is not an error", "[4]: careful\n# pxname,svname,type\nbe,BACKEND,1\n", "", func(t *testing.T, r reply) {
			if len(r.rows) != 1 {
				t.Errorf("rows = %+v, want one", r.rows)
			}
		}},
		{"quoted fields", readSeed(t, "quoted_fields"), "", func(t *testing.T, r reply) {
			if len(r.rows) != 1 || r.rows[0].status != "DOWN, going up" || r.rows[0].scur != 3 {
				t.Errorf("rows = %+v, want status %q and scur 3", r.rows, "DOWN, going up")
			}
		}},
		{"tcp mode counts sessions", readSeed(t, "real_tcp_listen"), "", func(t *testing.T, r reply) {
			for _, row := range r.rows {
				if row.mode != "tcp" || row.counter() != row.stot {
					t.Errorf("%s/%s: mode %q counter %d stot %d, want tcp and stot", row.proxy, row.name, row.mode, row.counter(), row.stot)
				}
			}
		}},
		{"max counter", readSeed(t, "warning_then_rows"), "", func(t *testing.T, r reply) {
			if r.rows[0].reqTot != 1<<64-1 {
				t.Errorf("req_tot = %d, want 2^64-1", r.rows[0].reqTot)
			}
		}},
		{"two blocks", "# pxname,svname,type\na,BACKEND,1\n\n# svname,pxname,type\nFRONTEND,b,0\n", "", func(t *testing.T, r reply) {
			if len(r.rows) != 2 || r.rows[1].proxy != "b" || r.rows[1].name != "FRONTEND" {
				t.Errorf("rows = %+v, want the second block read by its own header", r.rows)
			}
		}},
		{"short row reads empty cells as zero", readSeed(t, "short_row"), "", func(t *testing.T, r reply) {
			if r.rows[0].scur != 0 || r.rows[0].reqTot != 0 {
				t.Errorf("row = %+v", r.rows[0])
			}
		}},
		{"unterminated quote", readSeed(t, "unterminated_quote"), "unterminated", nil},
		{"negative gauge", readSeed(t, "negative_gauge"), "column scur", nil},
		{"bad counter", "# pxname,svname,type,req_tot\nbe,BACKEND,1,x\n", "column req_tot", nil},
		{"unknown type", "# pxname,svname,type\nbe,x,9\n", "type 9", nil},
		{"header without pxname", "# svname,type\nx,1\n", `lacks "pxname"`, nil},
		{"row without names", "# pxname,svname,type\n,,1\n", "without pxname", nil},
		{"bad pid", "Pid: x\n", "show info Pid", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseReply(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseReply() = %v, want an error mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseReply() = %v", err)
			}
			tc.check(t, r)
		})
	}
}

func TestSplitCSV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty line", "", []string{""}},
		{"bare", "a,b,c", []string{"a", "b", "c"}},
		{"trailing comma", "a,b,", []string{"a", "b", ""}},
		{"empty cells", ",,", []string{"", "", ""}},
		{"quoted comma", `a,"b,c",d`, []string{"a", "b,c", "d"}},
		{"doubled quote", `"say ""hi"""`, []string{`say "hi"`}},
		{"quoted last then comma", `"x",`, []string{"x", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitCSV(tc.in)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("splitCSV(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{`"open`, `"x"y`} {
		if got, err := splitCSV(bad); err == nil {
			t.Errorf("splitCSV(%q) = %q, want an error", bad, got)
		}
	}
}

// joinCSV is splitCSV's inverse, quoting as HAProxy does.
func joinCSV(fields []string) string {
	out := make([]string, len(fields))
	for i, f := range fields {
		if strings.ContainsAny(f, "\",") || strings.HasPrefix(f, `"`) {
			f = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
		}
		out[i] = f
	}
	return strings.Join(out, ",")
}

// FuzzParseReply feeds arbitrary answers to the parser: it must never
// panic, every row it accepts must be well formed, and splitting a line
// then re-joining and re-splitting it must give the same fields.
func FuzzParseReply(f *testing.F) {
	f.Add("# pxname,svname,type,scur\nbe,s,2,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := parseReply(in)
		if err == nil {
			for _, row := range r.rows {
				if row.proxy == "" || row.name == "" || row.typ < 0 || row.typ > typeListener ||
					row.scur < 0 || row.qcur < 0 || row.weight < 0 {
					t.Fatalf("accepted a malformed row %+v from %q", row, in)
				}
			}
		}
		for line := range strings.SplitSeq(in, "\n") {
			fields, err := splitCSV(line)
			if err != nil {
				continue
			}
			again, err := splitCSV(joinCSV(fields))
			if err != nil || !slices.Equal(again, fields) {
				t.Fatalf("split(join(%q)) = %q, %v", fields, again, err)
			}
		}
	})
}

// TestParseReplyErrors: hrsp_5xx (show stat field 43, "http responses
// with 5xx code"; HAProxy's doc/management.txt, section 9.1) fills a
// server's 5xx counter.
func TestParseReplyErrors(t *testing.T) {
	r, err := parseReply("# pxname,svname,type,req_tot,hrsp_5xx,mode\nbe,s1,2,10,3,http\nbe,s2,2,5,,http\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.rows) != 2 || r.rows[0].hrsp5xx != 3 || r.rows[1].hrsp5xx != 0 {
		t.Fatalf("rows %+v, want hrsp_5xx 3 and 0 (empty cell)", r.rows)
	}
	if _, err := parseReply("# pxname,svname,type,hrsp_5xx\nbe,s1,2,-1\n"); err == nil || !strings.Contains(err.Error(), "hrsp_5xx") {
		t.Errorf("negative hrsp_5xx: %v, want an error naming the column", err)
	}
}
