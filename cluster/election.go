package cluster

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"
)

// Office is what a node does while it is the controller (Campaign).
type Office struct {
	// Lead takes office in term (this node, in the epoch it just won): it returns once the
	// node serves as controller, or an error, when the term is given up (the node campaigns
	// again, for the next epoch, after a pause).
	Lead func(ctx context.Context, term Owner) error
	// Resign is called when a term this node led has ended: another node won a later one.
	Resign func(term Owner)
}

// Campaign runs this node's part of the controller election until ctx ends, then resigns a
// term it holds. The node claims the next epoch when there is no controller, when the
// controller's liveness key is gone from a current view of the cluster (in which this node's
// own key is visible: a node cut off from the others never takes over), or when the key names
// this node in an epoch it does not lead (it restarted). Any doubt (a KV error, a view that is
// not current) is "unknown": the node waits. retry is the pause between checks when nothing
// changes, and after a failed term.
func Campaign(ctx context.Context, co Coordinator, self string, office Office, retry time.Duration, log *slog.Logger) {
	var held Owner // the term this node leads; zero: none
	resign := func() {
		if held != (Owner{}) {
			log.Info("no longer the cluster controller", "node", self, "epoch", held.Epoch)
			office.Resign(held)
			held = Owner{}
		}
	}
	defer resign()
	for ctx.Err() == nil {
		cch, lch := co.Controller().Changed(), co.Liveness().Changed()
		pause := retry
		cur, err := co.Controller().Current(ctx)
		switch {
		case errors.Is(err, ErrNotFound):
			cur, err = Owner{}, nil
		case err != nil:
			log.Debug("read the cluster controller", "node", self, "err", err)
		}
		if err == nil && held != (Owner{}) && cur.Epoch > held.Epoch {
			resign() // another node won a later term (an older one is a view not yet current)
		}
		if err == nil && held == (Owner{}) && vacant(ctx, co, self, cur) {
			next := Owner{Node: self, Epoch: cur.Epoch + 1}
			if err := co.Controller().CompareAndSwap(ctx, cur, next); err != nil {
				log.Info("campaign for cluster controller", "node", self, "epoch", next.Epoch, "err", err)
			} else if err := office.Lead(ctx, next); err != nil {
				if ctx.Err() == nil {
					log.Error("take office as cluster controller", "node", self, "epoch", next.Epoch, "err", err)
				}
			} else {
				held = next
				log.Info("this node is the cluster controller", "node", self, "epoch", next.Epoch)
				continue // check the term at once: another may have moved meanwhile
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-cch:
		case <-lch:
		case <-t.C:
		}
		t.Stop()
	}
}

// vacant says whether this node may campaign against cur: no controller yet, this node's own
// term from before (a restart), or a controller gone from a current view of the live nodes.
func vacant(ctx context.Context, co Coordinator, self string, cur Owner) bool {
	if cur.Node == "" || cur.Node == self {
		return true
	}
	live, err := co.Liveness().Live(ctx)
	if err != nil {
		return false // unknown, never dead
	}
	return !slices.ContainsFunc(live, func(n NodeInfo) bool { return n.ID == cur.Node })
}
