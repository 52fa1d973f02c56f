package webserver

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPort(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		names   []string
		want    int
		wantErr string
	}{
		{"PORT0", map[string]string{"PORT0": "31005"}, []string{"PORT0"}, 31005, ""},
		{"lowest port", map[string]string{"PORT0": "1"}, []string{"PORT0"}, 1, ""},
		{"highest port", map[string]string{"PORT0": "65535"}, []string{"PORT0"}, 65535, ""},
		{"first set wins", map[string]string{"PORT0": "31005", "PORT": "8080"}, []string{"PORT0", "PORT"}, 31005, ""},
		{"fallback", map[string]string{"PORT": "8080"}, []string{"PORT0", "PORT"}, 8080, ""},
		{"no fallback asked", map[string]string{"PORT": "8080"}, []string{"PORT0"}, 0, `$PORT0 = "": want a port number 1–65535`},
		{"none set names the first", nil, []string{"PORT0", "PORT"}, 0, `$PORT0 = ""`},
		{"bad fallback names it", map[string]string{"PORT": "x"}, []string{"PORT0", "PORT"}, 0, `$PORT = "x"`},
		{"zero", map[string]string{"PORT0": "0"}, []string{"PORT0"}, 0, "1–65535"},
		{"too big", map[string]string{"PORT0": "65536"}, []string{"PORT0"}, 0, "1–65535"},
		{"negative", map[string]string{"PORT0": "-80"}, []string{"PORT0"}, 0, "1–65535"},
		{"not a number", map[string]string{"PORT0": "http"}, []string{"PORT0"}, 0, `"http"`},
		{"space", map[string]string{"PORT0": " 80"}, []string{"PORT0"}, 0, `" 80"`},
		{"huge", map[string]string{"PORT0": "99999999999999999999999"}, []string{"PORT0"}, 0, "1–65535"},
		{"no names", map[string]string{"PORT0": "80"}, nil, 0, "no variable names"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Port(env(tc.env), tc.names...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Port(%v) = %d, %v; want an error mentioning %q", tc.names, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Port(%v) = %d, %v; want %d, nil", tc.names, got, err, tc.want)
			}
		})
	}
}
