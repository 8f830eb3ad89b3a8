package main

import (
	"context"
)

// owns is jobs.Config.Owns in cluster mode: this node runs a business's jobs only while it
// holds the business in the epoch placement names (claimed in this run, not fenced since).
// Any doubt (the cluster not formed, placement unreadable) is "not mine": a job skipped once
// runs again at its next tick, while a job run by two nodes sends mail twice.
//
// A business no live node holds (its owner died, or restarted) is claimed by a node's
// adoption loop without waiting for a request (cmd_serve_cluster_adopt.go); its jobs run on
// that node from the claim on.
func (m *clusterMember) owns(ctx context.Context, tenantID string) bool {
	m.mu.Lock()
	epoch, held := m.held[tenantID]
	fenced := m.fenced[tenantID]
	m.mu.Unlock()
	if !held || fenced {
		return false
	}
	co := m.coordinator()
	if co == nil {
		return false
	}
	own, err := co.Placement().Owner(ctx, tenantID)
	return err == nil && own.Node == m.self.ID && own.Epoch == epoch
}
