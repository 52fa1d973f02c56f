package lbtest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// A driver's test calls the suite with a constructor of fresh, empty
// balancers. In a _test.go file that is one line, run under -race:
//
//	func TestConformance(t *testing.T) {
//		lbtest.Run(t, func(t *testing.T) lb.Balancer { return newEmptyBalancer(t) })
//	}
//
// Check runs the same rules outside package testing and returns every
// failure joined. Here it passes Memory, the in-memory balancer, and catches
// a driver whose Remove is not idempotent.
func ExampleCheck() {
	ctx := context.Background()
	err := lbtest.Check(ctx, func() (lb.Balancer, error) { return lbtest.NewMemory(), nil }, lbtest.Config{})
	fmt.Println("Memory conforms:", err == nil)

	err = lbtest.Check(ctx, func() (lb.Balancer, error) { return strictRemove{lbtest.NewMemory()}, nil }, lbtest.Config{})
	fmt.Println("strictRemove conforms:", err == nil)
	fmt.Println("a failure names Remove:", strings.Contains(fmt.Sprint(err), "Remove("))
	// Output:
	// Memory conforms: true
	// strictRemove conforms: false
	// a failure names Remove: true
}

// strictRemove breaks one rule of lb.Balancer: Remove of an absent backend
// must succeed (Remove is idempotent), and it returns lb.ErrNotFound.
type strictRemove struct{ *lbtest.Memory }

func (s strictRemove) Remove(ctx context.Context, id string) error {
	bs, err := s.Backends(ctx)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.ID == id {
			return s.Memory.Remove(ctx, id)
		}
	}
	return fmt.Errorf("strict: remove %s: %w", id, lb.ErrNotFound)
}
