package cluster

import (
	"context"
	"fmt"
)

// ControllerKey is the one key of the controller bucket.
const ControllerKey = "controller"

// Controller is the election of the cluster's controller: the one node that owns the registry
// (sign-ups, renames, custom hosts, deletions), replicates it, and publishes every business's
// record to the route map. The controller is an Owner like a business's: a node and an epoch
// that grows by one at each change, changed only by compare-and-set; the registry's replica is
// fenced by the epoch in the object store as a business's is. A node campaigns only when the
// controller's liveness key is gone from a current view (an error is "unknown", never "dead").
type Controller interface {
	// Current returns the controller from the watched cache, asking the KV store (bounded by
	// the call timeout) when the cache is not current. ErrNotFound: none was ever elected;
	// ErrUnknown: cannot tell.
	Current(ctx context.Context) (Owner, error)
	// Refresh is Current read from the KV store itself.
	Refresh(ctx context.Context) (Owner, error)
	// CompareAndSwap makes next the controller if prev (the zero Owner: none yet) still is,
	// and next.Epoch is prev.Epoch+1. ErrStale when another is; ErrUnknown when the outcome
	// cannot be known (then read it again).
	CompareAndSwap(ctx context.Context, prev, next Owner) error
	// Changed returns a channel closed at the next change of the controller.
	Changed() <-chan struct{}
}

// natsController is Controller on a bucket of one key, with placement's compare-and-set.
type natsController struct{ p natsPlacement }

var _ Controller = (*natsController)(nil)

func (c *natsController) Current(ctx context.Context) (Owner, error) {
	o, err := c.p.Owner(ctx, ControllerKey)
	if err != nil {
		return Owner{}, fmt.Errorf("cluster controller: %w", err)
	}
	return o, nil
}

func (c *natsController) Refresh(ctx context.Context) (Owner, error) {
	o, err := c.p.Refresh(ctx, ControllerKey)
	if err != nil {
		return Owner{}, fmt.Errorf("cluster controller: %w", err)
	}
	return o, nil
}

func (c *natsController) CompareAndSwap(ctx context.Context, prev, next Owner) error {
	if err := c.p.CompareAndSwap(ctx, ControllerKey, prev, next); err != nil {
		return fmt.Errorf("elect the cluster controller: %w", err)
	}
	return nil
}

func (c *natsController) Changed() <-chan struct{} { return c.p.view.Changed() }
