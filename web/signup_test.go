package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
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
