package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	_ "time/tzdata" // every IANA zone, even on a bare machine
)

// ValidateTimezone checks that tz is an IANA time zone name (the embedded tzdata knows them all).
func ValidateTimezone(tz string) error {
	if tz == "" {
		return errors.New("timezone is required (an IANA name such as Europe/Madrid)")
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" || len(tz) > 64 {
		return fmt.Errorf("timezone %q is not an IANA time zone name (such as Europe/Madrid)", tz)
	}
	return nil
}

// SetTimezone moves tenant id to time zone tz. What is stored as instants (bookings, time off)
// keeps its moment; what is wall-clock (working hours, date overrides) now reads in tz. Requests
// resolved after it returns get the new zone (the lookup cache is invalidated).
func (m *Manager) SetTimezone(ctx context.Context, id, tz string) error {
	if err := ValidateTimezone(tz); err != nil {
		return err
	}
	defer m.cache.invalidate()
	return m.reg.SetTimezone(ctx, id, tz)
}

// Rename gives tenant id a new slug; the old one redirects to it, and for the slug grace period
// (30 days by default) no other business can take it, as for a deleted business's slugs.
func (m *Manager) Rename(ctx context.Context, id, slug string) error {
	if err := ValidateSlug(slug); err != nil {
		return err
	}
	defer m.cache.invalidate()
	return m.reg.Rename(ctx, id, slug)
}

// SetHost makes host (a custom domain, e.g. book.example.com) serve tenant id. IP addresses,
// localhost and names without a dot are refused: they would capture the platform's own traffic.
func (m *Manager) SetHost(ctx context.Context, host, id string) error {
	host = NormalizeHost(host)
	if !strings.Contains(host, ".") || strings.ContainsAny(host, "/ \\@") || net.ParseIP(host) != nil ||
		host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("host %q is not a custom domain name (such as book.example.com)", host)
	}
	defer m.cache.invalidate()
	return m.reg.SetHost(ctx, host, id)
}

// RemoveHost stops host from serving tenant id.
func (m *Manager) RemoveHost(ctx context.Context, host, id string) error {
	defer m.cache.invalidate()
	return m.reg.RemoveHost(ctx, NormalizeHost(host), id)
}

// Delete erases tenant id: it waits for in-flight work on it, closes its database, removes
// every file of it in the data directory (database, -wal, -shm, restore safety copies, scratch
// copies of interrupted backups, restores and exports, its mail folder: see the inventory in
// files.go), its blobs and backups, then removes it from the registry (leaving a tombstone that
// holds the slug for a grace period). Files go first: if Delete is interrupted, running it again
// finishes the job, and no registry row is ever left pointing at half a tenant that looks fine.
func (m *Manager) Delete(ctx context.Context, id string) error {
	if _, err := m.Path(id); err != nil {
		return err
	}
	defer m.cache.invalidate()
	return m.Exclusive(ctx, id, func() error {
		m.mu.Lock()
		delete(m.seen, id)
		delete(m.faulted, id)
		m.mu.Unlock()
		if err := m.eraseFiles(id); err != nil {
			return fmt.Errorf("delete tenant %s: %w", id, err)
		}
		// Erasure covers every copy: blobs (uploads) and backups too, and the replica.
		if m.cfg.EraseElsewhere != nil {
			if err := m.cfg.EraseElsewhere(ctx, id); err != nil {
				return fmt.Errorf("delete tenant %s: %w", id, err)
			}
		}
		if err := m.deleteReplica(ctx, id); err != nil {
			return err
		}
		return m.reg.Delete(ctx, id) // with its backup records and stats
	})
}

// NormalizeHost is host as custom hosts are stored: lower case, without port or trailing dot.
func NormalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i] // drop the port
	}
	return strings.TrimSuffix(h, ".")
}
