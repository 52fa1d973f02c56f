package mesos

import (
	"context"
	"encoding/json"
	"fmt"
)

// StateStore keeps the scheduler's state (the framework ID, the desired
// counts, the launched tasks) where Config.StateFile would. The data is
// JSON in the state file's format. Implementations must be safe for
// concurrent use.
type StateStore interface {
	// Load returns the last data saved, or nil (and no error) when there
	// is none. It must return when ctx is done.
	Load(ctx context.Context) ([]byte, error)
	// Save replaces the data. A store shared by schedulers that take over
	// from each other should refuse a Save from one that no longer leads.
	// It must return when ctx is done.
	Save(ctx context.Context, data []byte) error
}

// readState reads the state from State or StateFile.
func (c *Config) readState(ctx context.Context) (savedState, error) {
	if c.State == nil {
		return loadState(c.StateFile)
	}
	b, err := c.State.Load(ctx)
	if err != nil {
		return savedState{}, fmt.Errorf("mesos: State.Load: %w", err)
	}
	if len(b) == 0 {
		return savedState{}, nil
	}
	return parseState(b, "from State")
}

// writeState writes st to State or StateFile.
func (c *Config) writeState(ctx context.Context, st savedState) error {
	if c.State == nil {
		if err := saveState(c.StateFile, st); err != nil {
			return fmt.Errorf("mesos: StateFile %s: %w", c.StateFile, err)
		}
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("mesos: encode state: %w", err)
	}
	if err := c.State.Save(ctx, b); err != nil {
		return fmt.Errorf("mesos: State.Save: %w", err)
	}
	return nil
}
