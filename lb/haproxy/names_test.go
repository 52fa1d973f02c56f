package haproxy

import (
	"strings"
	"testing"
)

func validIdent(s string) bool { return s != "" && identRE.MatchString(s) }

func TestServerName(t *testing.T) {
	long := strings.Repeat("webfarm-task.", 10)
	tests := []struct {
		name   string
		id     string
		want   string // "" to check properties only
		decode bool   // idFromName gives the ID back
	}{
		{"mesos task id kept", "web.3f2a9c1e-1b2c-4d5e-8f90-0a1b2c3d4e5f", "web.3f2a9c1e-1b2c-4d5e-8f90-0a1b2c3d4e5f", true},
		{"underscore escaped", "web_1", "web_5F1", true},
		{"slash and space", "a/b c", "a_2Fb_20c", true},
		{"unicode bytes", "wéb", "w_C3_A9b", true},
		{"percent", "%probe", "_25probe", true},
		{"colon kept", "host:31000", "host:31000", true},
		{"long id hashed", long, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := serverName(tc.id)
			if tc.want != "" && got != tc.want {
				t.Errorf("serverName(%q) = %q, want %q", tc.id, got, tc.want)
			}
			if !validIdent(got) || len(got) > maxNameLen {
				t.Errorf("serverName(%q) = %q: not a valid HAProxy name of at most %d bytes", tc.id, got, maxNameLen)
			}
			id, ok := idFromName(got)
			if ok != tc.decode || ok && id != tc.id {
				t.Errorf("idFromName(%q) = %q, %v, want %q, %v", got, id, ok, tc.id, tc.decode)
			}
		})
	}
	// Long IDs that share a 48-byte prefix still get distinct names.
	a, b := serverName(long+"a"), serverName(long+"b")
	if a == b || !strings.Contains(a, hashMark) {
		t.Errorf("long IDs: %q and %q, want distinct hashed names", a, b)
	}
}

func TestIDFromNameRejectsForeignNames(t *testing.T) {
	for _, name := range []string{"", "static_1", "web_", "web_2", "web_zz", "a_41b", "x" + hashMark + "abc"} {
		if id, ok := idFromName(name); ok {
			t.Errorf("idFromName(%q) = %q, true; want false (serverName cannot make it)", name, id)
		}
	}
}

// FuzzServerName checks, for any two IDs, that names are valid HAProxy
// identifiers, short, decodable when not hashed, and distinct.
func FuzzServerName(f *testing.F) {
	f.Add("web.1", "web_1")
	f.Add("a/b", "a_2Fb")
	f.Add(strings.Repeat("x", 70), strings.Repeat("x", 71))
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == "" || b == "" {
			return
		}
		na, nb := serverName(a), serverName(b)
		for _, n := range []string{na, nb} {
			if !validIdent(n) || len(n) > maxNameLen {
				t.Fatalf("serverName gave %q: not a valid name of at most %d bytes", n, maxNameLen)
			}
		}
		if a != b && na == nb {
			t.Fatalf("serverName(%q) == serverName(%q) == %q", a, b, na)
		}
		if id, ok := idFromName(na); ok && id != a {
			t.Fatalf("idFromName(serverName(%q)) = %q", a, id)
		}
		if !strings.Contains(na, hashMark) {
			if id, ok := idFromName(na); !ok || id != a {
				t.Fatalf("idFromName(%q) = %q, %v; want %q", na, id, ok, a)
			}
		}
	})
}
