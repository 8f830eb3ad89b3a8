package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Bad input over HTTP: every request gets a clear 4xx and the server goes on serving.
func TestBadInput(t *testing.T) {
	srv, m := site(t)
	svc, _ := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	owner := browser(t)
	signIn(t, srv.URL, owner, "acme", "owner@acme.example")
	json := map[string]string{"Content-Type": "application/json"}
	deep := "name"
	for range 30 {
		deep = "ofType { " + deep + " }"
	}
	deep = `{ __type(name: \"Query\") { fields { type { ` + deep + ` } } } }`
	nested := strings.Repeat("{ a ", 5000) + strings.Repeat("}", 5000)
	book := fmt.Sprintf("/acme/book/%d", svc)
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		client                   *http.Client
		want                     int // 0: any 4xx
		says                     string
	}{
		{"oversized GraphQL body", "POST", "/acme/graphql", `{"query":"` + strings.Repeat("a", 2<<20) + `"}`, json, nil, http.StatusRequestEntityTooLarge, ""},
		{"oversized form", "POST", "/signup", "name=" + strings.Repeat("a", 2<<20), form, nil, 0, ""},
		{"malformed JSON", "POST", "/acme/graphql", `{"query": "{ business { name } }"`, json, nil, 0, `"code":"BAD_REQUEST"`},
		{"JSON of the wrong shape", "POST", "/acme/graphql", `{"query": 42}`, json, nil, 0, `"code":"BAD_REQUEST"`},
		{"deeply nested query", "POST", "/acme/graphql", `{"query":"` + deep + `"}`, json, nil, 0, ""},
		{"unbalanced braces", "POST", "/acme/graphql", `{"query":"` + nested + `"}`, json, nil, 0, ""},
		{"GraphQL as plain text", "POST", "/acme/graphql", `{ business { name } }`, map[string]string{"Content-Type": "text/plain"}, nil, 0, ""},
		{"sign-in as JSON", "POST", "/acme/admin/login", `{"email":"owner@acme.example"}`, json, nil, 0, ""},
		{"invalid UTF-8 in a name", "POST", book, url.Values{"start": {"2099-01-01T10:00:00Z"}, "name": {"Eva\xff\xfe"}, "email": {"eva@example.com"}}.Encode(), form, nil, http.StatusBadRequest, "UTF-8"},
		{"invalid UTF-8 in a query", "GET", "/acme/admin/customers?q=%ff", "", nil, owner, http.StatusBadRequest, "UTF-8"},
		{"invalid UTF-8 in a slug", "POST", "/signup", url.Values{"name": {"X"}, "slug": {"caf\xe9"}, "timezone": {"UTC"}, "email": {"a@b.example"}, "password": {"long enough pass"}}.Encode(), form, nil, http.StatusBadRequest, "UTF-8"},
		{"SQL in a slug", "POST", "/signup", url.Values{"name": {"X"}, "slug": {"x'; DROP TABLE tenants;--"}, "timezone": {"UTC"}, "email": {"a@b.example"}, "password": {"long enough pass"}}.Encode(), form, nil, http.StatusUnprocessableEntity, "lowercase"},
		{"SQL in a date", "GET", book + "/slots?date=2026-01-01'%20OR%201=1--", "", nil, nil, http.StatusBadRequest, ""},
		{"SQL in a service id", "GET", "/acme/book/1%20OR%201=1", "", nil, nil, http.StatusNotFound, ""},
		{"path traversal in a slug", "GET", "/..%2F..%2Fetc%2Fpasswd", "", nil, nil, http.StatusNotFound, ""},
		{"dot-dot slug", "GET", "/%2e%2e/admin", "", nil, nil, 0, ""},
		{"path traversal in a token", "GET", "/acme/booking/..%2F..%2Fregistry.db", "", nil, nil, http.StatusNotFound, ""},
		{"a token that is too long", "GET", "/acme/booking/" + strings.Repeat("A", 5000), "", nil, nil, http.StatusNotFound, ""},
		{"path traversal in a reset link", "GET", "/acme/admin/reset/..%2F..%2Fsessions", "", nil, nil, http.StatusGone, ""},
		{"a time zone that is a path", "POST", book, url.Values{"start": {"bad"}, "tz": {"../../../etc/passwd"}}.Encode(), form, nil, http.StatusBadRequest, ""},
		{"negative id", "GET", "/acme/admin/bookings/-1", "", nil, owner, http.StatusNotFound, ""},
		{"huge id", "GET", "/acme/admin/customers/99999999999999999999999", "", nil, owner, http.StatusNotFound, ""},
		{"hours that are not hours", "POST", "/acme/admin/staff/1", url.Values{"name": {"Ana"}, "hours-mon-from": {"'; DELETE FROM staff;--"}, "hours-mon-to": {"10:00"}}.Encode(), form, owner, http.StatusUnprocessableEntity, "enter times as HH:MM"},
		{"a logo that is not multipart", "POST", "/acme/admin/settings/branding", "brandColor=%23000000", form, owner, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client := c.client
			if client == nil {
				client = browser(t)
			}
			status, body, _ := send(t, client, c.method, srv.URL+c.path, c.body, c.header)
			if (c.want != 0 && status != c.want) || (c.want == 0 && (status < 400 || status > 499)) {
				t.Errorf("%s %s: %d, want %d (4xx): %.300s", c.method, c.path, status, c.want, body)
			}
			if c.says != "" && !strings.Contains(body, c.says) {
				t.Errorf("the answer does not say %q: %.500s", c.says, body)
			}
			if quoted := strconv.Quote(c.body); len(c.body) > 10 && (strings.Contains(body, c.body) || strings.Contains(body, quoted[1:len(quoted)-1])) {
				t.Errorf("the answer quotes the request back: %.500s", body)
			}
			if status, _, _ := send(t, browser(t), "GET", srv.URL+"/acme", "", nil); status != 200 {
				t.Fatalf("the server stopped serving: %d", status)
			}
		})
	}
	// The database was not touched by any of it.
	if status, body, _ := send(t, owner, "GET", srv.URL+"/acme/admin/staff", "", nil); status != 200 || !strings.Contains(body, "Ana") {
		t.Errorf("staff after the bad input: %d", status)
	}
}
