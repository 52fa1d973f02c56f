package mesos

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoadState feeds the state-file parser any bytes (seed corpus in
// testdata/fuzz/FuzzLoadState: good files, old and hand-edited ones,
// corrupt ones). It must not panic, and must either return an error or a
// state a scheduler can run on: desired not negative, a framework ID and
// task IDs without control characters, every task named; saving that
// state and loading it again gives the same state.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"framework_id":"fw-1","desired":2,"tasks":[{"id":"web.0123456789abcdef","agent_id":"a1","host":"h","addr":"127.0.0.1:31000"}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := loadState(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mesos: ") {
				t.Fatalf("loadState error %q does not say where it comes from", err)
			}
			if !reflect.DeepEqual(st, savedState{}) {
				t.Fatalf("loadState returned %+v with its error %v: half a state", st, err)
			}
			return
		}
		if st.Desired < 0 {
			t.Fatalf("accepted desired %d", st.Desired)
		}
		if hasControl(st.FrameworkID) {
			t.Fatalf("accepted framework ID %q", st.FrameworkID)
		}
		for _, tk := range st.Tasks {
			if tk.ID == "" || hasControl(tk.ID) {
				t.Fatalf("accepted task ID %q", tk.ID)
			}
		}
		again := filepath.Join(dir, "again.json")
		if err := saveState(again, st); err != nil {
			t.Fatalf("saveState of a loaded state: %v", err)
		}
		st2, err := loadState(again)
		if err != nil {
			t.Fatalf("a saved state does not load: %v", err)
		}
		if !reflect.DeepEqual(normal(st), normal(st2)) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", st, st2)
		}
	})
}

// normal makes an empty task list and a nil one compare equal.
func normal(st savedState) savedState {
	if len(st.Tasks) == 0 {
		st.Tasks = nil
	}
	return st
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
