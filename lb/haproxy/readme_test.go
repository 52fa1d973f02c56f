package haproxy

import (
	"os"
	"strings"
	"testing"

	"github.com/webfarm/webfarm/internal/haproxyproc"
)

// readmeMarker precedes the recommended haproxy.cfg in README.md.
const readmeMarker = "<!-- haproxy.cfg: rendered by internal/haproxyproc for socket /run/haproxy/admin.sock and port 80 -->"

// TestREADMEConfig: the haproxy.cfg the README recommends is, line for
// line, the one internal/haproxyproc renders and every real-HAProxy test
// of this repository runs; and the package doc shows the same block.
func TestREADMEConfig(t *testing.T) {
	rendered, err := haproxyproc.Render(haproxyproc.Config{}, "/run/haproxy/admin.sock", 80)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(rendered), "\n") {
		if !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), readmeMarker+"\n```haproxy\n")
	if !ok {
		t.Fatalf("README.md has no %q followed by a ```haproxy block", readmeMarker)
	}
	block, _, ok := strings.Cut(after, "\n```")
	if !ok {
		t.Fatal("README.md: the haproxy block is not closed")
	}
	if got := strings.Split(block, "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("README.md's haproxy.cfg differs from internal/haproxyproc's rendering:\n--- README\n%s\n--- rendered\n%s",
			block, strings.Join(want, "\n"))
	}

	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var docBlock []string
	for _, l := range strings.Split(string(doc), "\n") {
		if rest, ok := strings.CutPrefix(l, "//\t"); ok {
			docBlock = append(docBlock, rest)
		} else if l == "//" && len(docBlock) > 0 {
			docBlock = append(docBlock, "")
		} else if len(docBlock) > 0 && docBlock[0] == "global" {
			break
		} else {
			docBlock = nil
		}
	}
	if got := strings.TrimSpace(strings.Join(docBlock, "\n")); got != strings.Join(want, "\n") {
		t.Errorf("doc.go's configuration block differs from the rendered one:\n--- doc.go\n%s\n--- rendered\n%s", got, strings.Join(want, "\n"))
	}
}
