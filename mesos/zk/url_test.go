package zk

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		in   string
		want URL
	}{
		{"zk://127.0.0.1:2181/mesos", URL{Servers: []string{"127.0.0.1:2181"}, Path: "/mesos"}},
		{"zk://h1:2181,h2:2182,h3:2183/mesos/prod/", URL{Servers: []string{"h1:2181", "h2:2182", "h3:2183"}, Path: "/mesos/prod"}},
		{"zk://jo:s%40cret@h1:2181,[::1]:2181/m", URL{Servers: []string{"h1:2181", "[::1]:2181"}, Path: "/m", User: "jo", Password: "s@cret"}},
		{"ZK://h:1/x", URL{Servers: []string{"h:1"}, Path: "/x"}},
	}
	for _, tc := range good {
		got, err := ParseURL(tc.in)
		if err != nil || !slices.Equal(got.Servers, tc.want.Servers) || got.Path != tc.want.Path || got.User != tc.want.User || got.Password != tc.want.Password {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	bad := []string{"", "http://h:1/x", "zk://h:1", "zk://h:1/", "zk://h/x", "zk://h:0/x", "zk://h:1,/x", "zk://:1/x",
		"zk://h:1/a//b", "zk://h:1/a/../b", "zk://h:1/a?x=1", "zk://user@h:1/x", "zk://:pw@h:1/x", "zk://h:99999/x"}
	for _, in := range bad {
		if _, err := ParseURL(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseURL(%q) error %v, want ErrInvalid", in, err)
		}
	}
}

func TestRedactHidesThePassword(t *testing.T) {
	for in, want := range map[string]string{
		"zk://jo:s3cret@h1:2181,h2:2181/mesos": "zk://jo:xxxxx@h1:2181,h2:2181/mesos",
		"zk://h1:2181/mesos":                   "zk://h1:2181/mesos",
		"http://h:5050":                        "http://h:5050",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	u, _ := ParseURL("zk://jo:s3cret@h1:2181/mesos")
	if got := u.String(); got != "zk://jo:xxxxx@h1:2181/mesos" {
		t.Errorf("String() = %q", got)
	}
	if _, err := ParseURL("zk://jo:s3cret@h1:2181/"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v: want one without the password", err)
	}
}

// TestMembers follows GroupProcess::cache in Mesos's src/zookeeper/group.cpp:
// the last '_' token is the sequence, the first the label; other children
// are no members.
func TestMembers(t *testing.T) {
	got := members([]string{"json.info_0000000012", "log_replicas", "json.info_0000000003", "info_0000000007", "0000000001", "x_y"})
	want := []member{
		{name: "0000000001", seq: 1},
		{name: "json.info_0000000003", label: "json.info", seq: 3},
		{name: "info_0000000007", label: "info", seq: 7},
		{name: "json.info_0000000012", label: "json.info", seq: 12},
	}
	if !slices.Equal(got, want) {
		t.Errorf("members = %+v\nwant %+v", got, want)
	}
}

// TestMasterInfo reads MasterInfo JSON as a Mesos 1.x master writes it
// (src/master/contender/zookeeper.cpp: JSON::protobuf of the MasterInfo
// that src/common/protobuf_utils.cpp createMasterInfo fills; ip in
// network byte order).
func TestMasterInfo(t *testing.T) {
	real := `{"address":{"hostname":"m1.example","ip":"10.1.2.3","port":5050},"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"}],"hostname":"m1.example","id":"a5b5e9a1-0000-4000-8000-000000000001","ip":50462986,"pid":"master@10.1.2.3:5050","port":5050,"version":"1.11.0"}`
	m, err := parseMasterInfo([]byte(real))
	if err != nil {
		t.Fatal(err)
	}
	if hp, _ := m.HostPort(); hp != "10.1.2.3:5050" {
		t.Errorf("HostPort = %q, want 10.1.2.3:5050", hp)
	}
	legacy := MasterInfo{ID: "x", IP: 50462986, Port: 5051}
	if hp, err := legacy.HostPort(); hp != "10.1.2.3:5051" || err != nil {
		t.Errorf("legacy ip/port: HostPort = %q, %v; want 10.1.2.3:5051", hp, err)
	}
	pidOnly := MasterInfo{ID: "x", PID: "master@10.0.0.9:5052"}
	if hp, _ := pidOnly.HostPort(); hp != "10.0.0.9:5052" {
		t.Errorf("pid only: HostPort = %q", hp)
	}
	mine, err := NewMasterInfo("id1", "10.1.2.3:5050")
	if err != nil || mine.IP != 50462986 || mine.PID != "master@10.1.2.3:5050" || mine.Address.IP != "10.1.2.3" || mine.Address.Port != 5050 {
		t.Errorf("NewMasterInfo = %+v, %v", mine, err)
	}
	for _, in := range []string{`{`, `{"id":"x"}`, `{"id":"x","address":{"port":0}}`, `[]`} {
		if _, err := parseMasterInfo([]byte(in)); err == nil {
			t.Errorf("parseMasterInfo(%s): no error", in)
		}
	}
	if _, err := NewMasterInfo("x", "[::1]:5050"); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewMasterInfo(IPv6) = %v, want ErrInvalid", err)
	}
}
