package tenancy

import (
	"context"
)

// MigrateResult is what MigrateAll did to one tenant.
type MigrateResult struct {
	Tenant Tenant
	Err    error
}

// MigrateAll brings every tenant whose registry record is behind (or failed) to the latest
// schema, with at most workers at a time, and reports each result to progress (which may be nil).
// It returns the failures.
func (m *Manager) MigrateAll(ctx context.Context, workers int, progress func(done, total int, r MigrateResult)) ([]MigrateResult, error) {
	return m.Migrate(ctx, workers, func(t Tenant) bool {
		return t.SchemaVersion < m.latest || t.MigrationStatus != MigrationOK
	}, progress)
}

// Migrate opens (and so migrates) every tenant for which want returns true, with at most workers
// at a time; the handle cap bounds how many are open. One tenant's failure never stops the
// others: it is reported to progress and returned.
func (m *Manager) Migrate(ctx context.Context, workers int, want func(Tenant) bool, progress func(done, total int, r MigrateResult)) ([]MigrateResult, error) {
	all, err := m.reg.List(ctx)
	if err != nil {
		return nil, err
	}
	var todo []Tenant
	for _, t := range all {
		if want(t) {
			todo = append(todo, t)
		}
	}
	jobs := make(chan Tenant)
	results := make(chan MigrateResult, len(todo)) // workers never block on a reader that left
	for range max(workers, 1) {
		go func() {
			for t := range jobs {
				err := m.Visit(ctx, t, func(*Lease) error { return nil }) // opening migrates
				results <- MigrateResult{Tenant: t, Err: err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, t := range todo {
			select {
			case jobs <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	var failed []MigrateResult
	for done := 1; done <= len(todo); done++ {
		var r MigrateResult
		select {
		case r = <-results:
		case <-ctx.Done():
			return failed, ctx.Err()
		}
		if r.Err != nil {
			failed = append(failed, r)
		}
		if progress != nil {
			progress(done, len(todo), r)
		}
	}
	return failed, nil
}
