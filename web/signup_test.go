package web_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/tenancy"
)

func TestSignup(t *testing.T) {
	srv, _ := site(t)
	c := browser(t)
	_, doc, _ := page(t, c, "GET", srv.URL+"/signup", "")
	if doc.Find(`[data-testid="signup-page"] form`).Length() != 1 {
		t.Fatal("no sign-up form")
	}
	good := url.Values{"name": {"Zen Yoga Studio"}, "timezone": {"Europe/Madrid"}, "email": {"me@zen.example"}, "password": {"correct horse battery"}}

	t.Run("ErrFieldsKeepInput", func(t *testing.T) {
		bad := url.Values{"name": {"Zen"}, "slug": {"Bad Slug"}, "timezone": {"Mars/Base"}, "email": {"me@zen.example"}, "password": {"short"}}
		status, doc, _ := page(t, c, "POST", srv.URL+"/signup", bad.Encode())
		if status != http.StatusUnprocessableEntity {
			t.Errorf("status %d", status)
		}
		for id, want := range map[string]string{"slug": "uppercase", "timezone": "not an IANA", "password": "at least 10"} {
			if got := doc.Find(`[data-testid="error-` + id + `"]`).Text(); !strings.Contains(got, want) {
				t.Errorf("error for %s: %q, want %q", id, got, want)
			}
		}
		if attr(t, doc, `input[name="name"]`, "value") != "Zen" || attr(t, doc, `input[name="email"]`, "value") != "me@zen.example" {
			t.Error("input not kept")
		}
	})
	t.Run("ErrSlugTaken", func(t *testing.T) {
		taken := url.Values{"name": {"Acme Again"}, "slug": {"acme"}, "timezone": {"UTC"}, "email": {"x@y.example"}, "password": {"0123456789"}}
		status, doc, _ := page(t, c, "POST", srv.URL+"/signup", taken.Encode())
		if status != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-testid="error-slug"]`).Text(), "is taken") {
			t.Errorf("taken slug: %d", status)
		}
	})

	status, _, hdr := page(t, c, "POST", srv.URL+"/signup", good.Encode())
	if status != http.StatusSeeOther || hdr.Get("Location") != "/zen-yoga-studio/admin" {
		t.Fatalf("sign-up: %d %s", status, hdr.Get("Location"))
	}
	// Signed in to the new dashboard at once, and the public site is there.
	_, doc, _ = page(t, c, "GET", srv.URL+"/zen-yoga-studio/admin", "")
	if doc.Find(`[data-testid="admin-user"]`).Text() != "Owner" {
		t.Errorf("dashboard after sign-up: %s", doc.Find("main").Text())
	}
	_, doc, _ = page(t, c, "GET", srv.URL+"/zen-yoga-studio", "")
	if doc.Find(`[data-testid="business-name"]`).Text() != "Zen Yoga Studio" {
		t.Error("the new site does not show the business")
	}
}

// A sign-up whose owner the domain refuses (an address without a dot in its domain, a password
// over 200 bytes) is answered at once with the field's error, and leaves nothing behind: no
// registry row, no database file, and the address stays free for the next try. It used to
// provision the business first, then deadlock deleting it under its own lease.
func TestSignupBadOwnerLeavesNothing(t *testing.T) {
	srv, m := site(t)
	ctx := context.Background()
	files := func() int {
		t.Helper()
		n := 0
		err := filepath.WalkDir(filepath.Dir(filepath.Dir(mustPath(t, m, "acme"))), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := files()
	for _, tc := range []struct{ name, email, password, field string }{
		{"ErrEmailNoDot", "owner@localhost", "correct horse battery", "email"},
		{"ErrPasswordTooLong", "owner@zen.example", strings.Repeat("p", 201), "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := browser(t)
			c.Timeout = time.Second // the old code never answered
			vals := url.Values{"name": {"Zen"}, "slug": {"zen-" + strings.ToLower(tc.field)}, "timezone": {"UTC"},
				"email": {tc.email}, "password": {tc.password}}
			status, doc, _ := page(t, c, "POST", srv.URL+"/signup", vals.Encode())
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", status)
			}
			if doc.Find(`[data-testid="error-`+tc.field+`"]`).Text() == "" {
				t.Errorf("no error shown for %s", tc.field)
			}
			if _, _, err := m.Resolve(ctx, vals.Get("slug")); !errors.Is(err, tenancy.ErrNotFound) {
				t.Errorf("slug %s resolves after the failed sign-up: %v", vals.Get("slug"), err)
			}
			list, err := m.Registry().List(ctx)
			if err != nil || len(list) != 2 {
				t.Errorf("registry holds %d businesses (%v), want the 2 of the fixture", len(list), err)
			}
			if n := files(); n != before {
				t.Errorf("%d files under tenants/, %d before", n, before)
			}
			// The address is still free: the corrected sign-up takes it.
			vals.Set("email", "owner@zen.example")
			vals.Set("password", "correct horse battery")
			if status, _, hdr := page(t, c, "POST", srv.URL+"/signup", vals.Encode()); status != http.StatusSeeOther {
				t.Errorf("corrected sign-up: %d %s", status, hdr.Get("Location"))
			}
			if err := deleteBusiness(m, vals.Get("slug")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// mustPath is the database file of business slug.
func mustPath(t *testing.T, m *tenancy.Manager, slug string) string {
	t.Helper()
	tn, _, err := m.Resolve(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Path(tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func deleteBusiness(m *tenancy.Manager, slug string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tn, _, err := m.Resolve(ctx, slug)
	if err != nil {
		return err
	}
	return m.Delete(ctx, tn.ID)
}

// Forms with mistakes do not use up the address's sign-up allowance (five typos used to lock a
// real owner out for ten minutes); sign-ups that create a business still do.
func TestSignupAllowanceCountsBusinesses(t *testing.T) {
	srv, _ := site(t)
	c := browser(t)
	for i := range 6 {
		typo := url.Values{"name": {"Zen"}, "slug": {"zen"}, "timezone": {"UTC"}, "email": {"me@zen.example"}, "password": {"short"}}
		if i%2 == 1 { // another business's address
			typo.Set("slug", "acme")
			typo.Set("password", "correct horse battery")
		}
		if status, _, _ := page(t, c, "POST", srv.URL+"/signup", typo.Encode()); status != http.StatusUnprocessableEntity {
			t.Fatalf("typo %d: %d, want 422", i, status)
		}
	}
	for i := range 6 {
		good := url.Values{"name": {"Zen"}, "slug": {fmt.Sprintf("zen-%d", i)}, "timezone": {"UTC"},
			"email": {"me@zen.example"}, "password": {"correct horse battery"}}
		status, doc, header := page(t, browser(t), "POST", srv.URL+"/signup", good.Encode())
		switch {
		case i < 5 && status != http.StatusSeeOther:
			t.Fatalf("sign-up %d after the typos: %d, want 303", i, status)
		case i == 5 && (status != http.StatusTooManyRequests || !strings.Contains(doc.Text(), "Too many sign-ups")):
			t.Errorf("sixth business from one address: %d, want 429", status)
		case i == 5:
			// Like every other 429: how long to wait, for programs and for people.
			secs, err := strconv.Atoi(header.Get("Retry-After"))
			if err != nil || secs < 1 || secs > 600 || !strings.Contains(doc.Text(), "try again in 10 minutes") {
				t.Errorf("sixth business: Retry-After %q, message %q; want up to 600 seconds, and the minutes in words",
					header.Get("Retry-After"), doc.Find(`[data-testid="message"]`).Text())
			}
		}
	}
}
