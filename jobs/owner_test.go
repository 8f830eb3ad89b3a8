package jobs_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// tenantMailer records the tenant of every message it sends.
type tenantMailer struct {
	mu      sync.Mutex
	tenants []string
}

func (r *tenantMailer) Send(_ context.Context, m jobs.Mail) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tenants = append(r.tenants, m.TenantID)
	return nil
}

// Two members of a cluster, each owning two of four businesses (Config.Owns): each run of a
// per-business job (reminders and mail, stats, backups, housekeeping) touches only the
// member's own businesses, so across the two every business is handled exactly once.
func TestJobsRunOnlyOnTheOwner(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	u, _ := blob.FileURL(filepath.Join(e.Dir, "blobs"))
	blobs, err := blob.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blobs.Close() })
	m := manager(t, e.Dir, e.Reg, nil)
	var ids []string
	for _, slug := range []string{"aaa", "bbb", "ccc", "ddd"} {
		tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: slug, Name: slug, Timezone: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
		l, err := m.Acquire(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
		_, err = s.CreateUser(ctx, domain.NewUser{Email: "owner@" + slug + ".example", Name: "Olga", Role: domain.RoleOwner, Password: "correct horse battery"})
		if err == nil {
			err = s.RequestPasswordReset(ctx, "owner@"+slug+".example", slug) // one message in each outbox
		}
		l.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	day := time.Now().UTC().Format(time.DateOnly)
	statsOf := func() []string {
		t.Helper()
		st, err := e.Reg.Stats(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range st {
			out = append(out, s.TenantID)
		}
		slices.Sort(out)
		return out
	}
	backedUp := func() []string {
		t.Helper()
		var out []string
		for _, id := range ids {
			list, err := ops.New(m, blobs).Backups(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for range list {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { return slices.Sorted(slices.Values(s)) }

	var seen []string // the businesses handled so far, by both members
	for i, own := range [][]string{ids[:2], ids[2:]} {
		rec := &tenantMailer{}
		s, err := jobs.New(m, jobs.Config{
			Mail: jobs.MailConfig{Mailer: rec, BaseURL: "https://book.example"}, Blobs: blobs,
			Owns: func(_ context.Context, id string) bool { return slices.Contains(own, id) },
		}, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, own...)
		for _, job := range []string{"new-mail", "reminders", "mail", "stats", "backups", "housekeeping"} {
			if out, err := s.Run(ctx, job); err != nil {
				t.Fatalf("member %d: %s: %s %v", i, job, out, err)
			}
		}
		if got := sorted(rec.tenants...); !slices.Equal(got, sorted(own...)) {
			t.Errorf("member %d sent the mail of %v, want only its own %v", i, got, own)
		}
		if got := statsOf(); !slices.Equal(got, sorted(seen...)) {
			t.Errorf("after member %d, stats of %v, want %v", i, got, sorted(seen...))
		}
		if got := backedUp(); !slices.Equal(got, sorted(seen...)) {
			t.Errorf("after member %d, backups of %v, want one each of %v", i, got, sorted(seen...))
		}
		if out, err := s.Run(ctx, "housekeeping"); err != nil || out != "2 tenants, 0 expired sessions removed" {
			t.Errorf("member %d housekeeping: %q %v, want its 2 tenants", i, out, err)
		}
	}
	if _, err := (&jobs.Scheduler{}).Run(ctx, "nope"); err == nil {
		t.Error("Run of an unknown job: no error")
	}
}
