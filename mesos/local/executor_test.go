package local

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestExecutorAPIErrors(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	url := "http://" + c.Agents()[0].Endpoint + ExecutorPath
	tests := []struct {
		name    string
		method  string
		ctype   string
		body    string
		want    int
		wantMsg string
	}{
		{name: "GET", method: http.MethodGet, ctype: mediaJSON, body: `{}`, want: 405},
		{name: "no content type", body: `{}`, want: 400, wantMsg: "Content-Type"},
		{name: "bad JSON", ctype: mediaJSON, body: `{"type":`, want: 400, wantMsg: "Failed to parse"},
		{name: "no IDs", ctype: mediaJSON, body: `{"type":"SUBSCRIBE"}`, want: 400, wantMsg: "executor_id"},
		{name: "unknown executor", ctype: mediaJSON, body: `{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"}}`, want: 400, wantMsg: "cannot be found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, url, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.wantMsg) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, b, tc.want, tc.wantMsg)
			}
		})
	}
}
