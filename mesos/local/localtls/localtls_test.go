package localtls

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestNewServesVerifiableTLS(t *testing.T) {
	tests := []struct {
		name    string
		hosts   []string
		dial    string
		wantErr string
	}{
		{name: "default hosts, IPv4", dial: "127.0.0.1"},
		{name: "named host", hosts: []string{"farm.test", "127.0.0.1"}, dial: "127.0.0.1"},
		{name: "wrong host is rejected", hosts: []string{"farm.test"}, dial: "127.0.0.1", wantErr: "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.hosts...)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := tls.Listen("tcp4", tc.dial+":0", b.Server)
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
			go srv.Serve(ln)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: b.Client}}
			resp, err := client.Get("https://" + ln.Addr().String() + "/")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error about %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if body, _ := io.ReadAll(resp.Body); string(body) != "ok" {
				t.Errorf("body %q", body)
			}
			// The PEM holds the CA that verifies the served leaf.
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b.CAPEM) {
				t.Fatal("CAPEM does not parse")
			}
			leaf, err := x509.ParseCertificate(b.Server.Certificates[0].Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: tc.dial}); err != nil {
				t.Errorf("leaf does not verify against CAPEM: %v", err)
			}
		})
	}
}
