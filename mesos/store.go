package mesos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// savedState is what StateFile holds: enough for a restarted scheduler to
// re-subscribe as the same framework and put its tasks back in the
// balancer.
type savedState struct {
	FrameworkID string `json:"framework_id,omitempty"`
	// Desired and Tasks are the default service's (see Config.Task).
	Desired int         `json:"desired"`
	Tasks   []savedTask `json:"tasks,omitempty"`
	// Services holds the other services' counts and tasks, by name.
	Services map[string]savedService `json:"services,omitempty"`
	// Deploy is the default service's last deployment.
	Deploy *savedDeploy `json:"deploy,omitempty"`
}

// savedService is what StateFile keeps of one service.
type savedService struct {
	Desired int          `json:"desired"`
	Tasks   []savedTask  `json:"tasks,omitempty"`
	Deploy  *savedDeploy `json:"deploy,omitempty"`
}

// taskCount is the number of tasks st lists, all services together.
func (st *savedState) taskCount() int {
	n := len(st.Tasks)
	for _, ss := range st.Services {
		n += len(ss.Tasks)
	}
	return n
}

type savedTask struct {
	ID      string         `json:"id"`
	AgentID string         `json:"agent_id,omitempty"`
	Host    string         `json:"host,omitempty"`
	Addr    netip.AddrPort `json:"addr"`
	Version string         `json:"version,omitempty"` // TemplateVersion of its template
}

// loadState reads path. A missing file is an empty state.
func loadState(path string) (savedState, error) {
	var st savedState
	if path == "" {
		return st, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("mesos: read state file: %w", err)
	}
	return parseState(b, path)
}

// parseState decodes and checks a state file's content; path names it in
// errors.
func parseState(b []byte, path string) (savedState, error) {
	var st savedState
	var err error
	if err := json.Unmarshal(b, &st); err != nil {
		return savedState{}, fmt.Errorf("mesos: state file %s: %w", path, err)
	}
	if st.Desired < 0 {
		return savedState{}, fmt.Errorf("mesos: state file %s: desired %d is negative", path, st.Desired)
	}
	if hasControlChar(st.FrameworkID) {
		return savedState{}, fmt.Errorf("mesos: state file %s: bad framework ID %q", path, st.FrameworkID)
	}
	st.Tasks, err = checkSavedTasks(st.Tasks)
	if err != nil {
		return savedState{}, fmt.Errorf("mesos: state file %s: %w", path, err)
	}
	for name, ss := range st.Services {
		if !namePattern.MatchString(name) {
			return savedState{}, fmt.Errorf("mesos: state file %s: bad service name %q", path, name)
		}
		if ss.Desired < 0 {
			return savedState{}, fmt.Errorf("mesos: state file %s: service %s: desired %d is negative", path, name, ss.Desired)
		}
		if ss.Tasks, err = checkSavedTasks(ss.Tasks); err != nil {
			return savedState{}, fmt.Errorf("mesos: state file %s: service %s: %w", path, name, err)
		}
		st.Services[name] = ss
	}
	return st, nil
}

// checkSavedTasks drops entries without an ID and rejects IDs no task
// has.
func checkSavedTasks(ts []savedTask) ([]savedTask, error) {
	ts = slices.DeleteFunc(ts, func(t savedTask) bool { return t.ID == "" })
	for i, t := range ts {
		if hasControlChar(t.ID) {
			return nil, fmt.Errorf("task %d: bad ID %q", i, t.ID)
		}
	}
	return ts, nil
}

// hasControlChar reports whether s holds an ASCII control character:
// no ID Mesos issues (or this package makes) does.
func hasControlChar(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// saveState writes st to path atomically: a reader sees the old file or
// the new one, never a part. Its errors carry no "mesos:" prefix: the
// caller adds it with the file's name.
func saveState(path string, st savedState) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
