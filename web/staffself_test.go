package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// A staff user linked to a staff member edits that member's hours, date overrides and time
// off, and no one else's; their name, email and active flag stay the owner's to change. The
// owner still edits everyone's.
func TestStaffUserEditsOwnSchedule(t *testing.T) {
	srv, m := site(t)
	var ana, bob int64
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		var err1, err2, err3 error
		ana, err1 = s.CreateStaff(ctx, domain.Staff{Name: "Ana", Email: "ana@acme.example"})
		bob, err2 = s.CreateStaff(ctx, domain.Staff{Name: "Bob"})
		_, err3 = s.CreateUser(ctx, domain.NewUser{Email: "ana-user@acme.example", Name: "Ana", Role: domain.RoleStaff,
			Password: "correct horse battery", StaffID: ana})
		if err := firstError(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
	})
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "ana-user@acme.example")
	base := srv.URL + "/acme/admin/staff/"
	own, other := base+fmt.Sprint(ana), base+fmt.Sprint(bob)
	day := time.Now().AddDate(0, 0, 10).Format(time.DateOnly)

	if status, doc, _ := page(t, c, "GET", srv.URL+"/acme/admin", ""); doc.Find(`nav a[href="/acme/admin/staff/`+fmt.Sprint(ana)+`"]`).Length() != 1 {
		t.Errorf("the staff user's navigation has no link to their hours (%d)", status)
	}
	if status, _, _ := page(t, c, "GET", own, ""); status != http.StatusOK {
		t.Errorf("own hours page: %d, want 200", status)
	}
	hours := url.Values{"name": {"Hacked"}, "hours-mon-from": {"09:00"}, "hours-mon-to": {"13:00"}}
	if status, _, _ := post(t, c, own, hours); status != http.StatusSeeOther {
		t.Errorf("saving own hours: %d, want 303", status)
	}
	if status, _, _ := post(t, c, own+"/timeoff", url.Values{"fromDate": {day}, "fromTime": {"12:00"}, "toDate": {day}, "toTime": {"15:00"}}); status != http.StatusSeeOther {
		t.Errorf("adding own time off: %d, want 303", status)
	}
	if status, _, _ := post(t, c, own+"/overrides", url.Values{"date": {day}, "from": {"10:00"}, "to": {"12:00"}}); status != http.StatusSeeOther {
		t.Errorf("adding own date override: %d, want 303", status)
	}
	for _, try := range []struct {
		method, url string
		vals        url.Values
	}{
		{"GET", other, nil},
		{"POST", other, hours},
		{"POST", other + "/timeoff", url.Values{"fromDate": {day}, "fromTime": {"12:00"}, "toDate": {day}, "toTime": {"15:00"}}},
		{"POST", other + "/overrides", url.Values{"date": {day}}},
		{"GET", base[:len(base)-1], nil}, // the staff list stays the owner's
	} {
		if status, _, _ := page(t, c, try.method, try.url, try.vals.Encode()); status != http.StatusForbidden {
			t.Errorf("%s %s as Ana: %d, want 403", try.method, try.url, status)
		}
	}
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		a, err := s.StaffMember(ctx, ana)
		if err != nil {
			t.Fatal(err)
		}
		if a.Name != "Ana" || a.Email != "ana@acme.example" || !a.Active {
			t.Errorf("Ana's details changed by herself: %+v", a)
		}
		if len(a.Hours[time.Monday]) != 1 || a.Hours[time.Monday][0] != (domain.Interval{Start: 9 * 60, End: 13 * 60}) {
			t.Errorf("Ana's Monday: %v, want 09:00-13:00", a.Hours[time.Monday])
		}
		off, err := s.TimeOffList(ctx, ana, time.Time{})
		if err != nil || len(off) != 1 {
			t.Errorf("Ana's time off: %v %v, want one", off, err)
		}
		b, _ := s.StaffMember(ctx, bob)
		if len(b.Hours[time.Monday]) != 0 {
			t.Errorf("Bob's Monday changed by Ana: %v", b.Hours[time.Monday])
		}
	})
	owner := browser(t)
	signIn(t, srv.URL, owner, "acme", "owner@acme.example")
	if status, _, _ := post(t, owner, other+"/timeoff", url.Values{"fromDate": {day}, "fromTime": {"12:00"}, "toDate": {day}, "toTime": {"15:00"}}); status != http.StatusSeeOther {
		t.Errorf("the owner adding Bob's time off: %d, want 303", status)
	}
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
