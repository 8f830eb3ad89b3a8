package graph_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// post sends a GraphQL document to tenant slug and returns the HTTP answer's status, its
// Retry-After header and the decoded body.
func post(t *testing.T, srv *httptest.Server, slug, token, query string, vars map[string]any) (int, string, gqlResponse) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest("POST", srv.URL+"/"+slug+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	var r gqlResponse
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatalf("decode response (status %d): %v", res.StatusCode, err)
	}
	return res.StatusCode, res.Header.Get("Retry-After"), r
}

// checkRetryAfter fails unless errs is RATE_LIMITED with extensions.retryAfter, whole seconds
// within the limiter's interval, equal to the Retry-After header.
func checkRetryAfter(t *testing.T, what string, header string, errs []gqlError) {
	t.Helper()
	if code(errs) != "RATE_LIMITED" {
		t.Fatalf("%s: %+v", what, errs)
	}
	secs, ok := errs[0].Extensions["retryAfter"].(float64)
	if !ok || secs != float64(int(secs)) || secs < 1 || secs > 6 || header != strconv.Itoa(int(secs)) {
		t.Errorf("%s: retryAfter %v, Retry-After %q", what, errs[0].Extensions["retryAfter"], header)
	}
}

// A client over its booking allowance is told when to come back (extensions.retryAfter and
// Retry-After), and a retry of a booking it did make is still answered with that booking.
func TestRateLimitRetryAfterAndReplay(t *testing.T) {
	srv := server(t)
	madrid, _ := time.LoadLocation("Europe/Madrid")
	day := time.Now().In(madrid).AddDate(0, 0, 3)
	start := time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, madrid).Format(time.RFC3339)
	create := `mutation($in: CreateBookingInput!) { createBooking(input: $in) { manageToken booking { id } } }`
	input := func(key, email string) map[string]any {
		return map[string]any{"in": map[string]any{"serviceId": "1", "start": start, "idempotencyKey": key,
			"customer": map[string]any{"name": "Eva", "email": email}}}
	}
	type payload struct {
		CreateBooking struct {
			ManageToken string
			Booking     struct{ ID string }
		}
	}
	_, _, first := post(t, srv, "acme", "", create, input("key-1", "eva@example.com"))
	var made payload
	if first.Errors != nil || json.Unmarshal(first.Data, &made) != nil || made.CreateBooking.ManageToken == "" {
		t.Fatalf("booking: %+v", first)
	}
	for i := range 9 {
		if _, _, r := post(t, srv, "acme", "", create, input("bad", "nope")); code(r.Errors) != "BAD_USER_INPUT" {
			t.Fatalf("attempt %d: %+v", i+2, r.Errors)
		}
	}
	status, retry, r := post(t, srv, "acme", "", create, input("key-2", "tom@example.com"))
	checkRetryAfter(t, "a new booking over the limit", retry, r.Errors)
	if status != http.StatusOK {
		t.Errorf("status %d", status)
	}
	// The first booking's retry (its answer lost, say) gets the booking and a working link.
	_, retry, r = post(t, srv, "acme", "", create, input("key-1", "eva@example.com"))
	var again payload
	if r.Errors != nil || json.Unmarshal(r.Data, &again) != nil || again.CreateBooking.Booking.ID != made.CreateBooking.Booking.ID ||
		again.CreateBooking.ManageToken == "" || retry != "" {
		t.Fatalf("replay over the limit: %+v (Retry-After %q)", r, retry)
	}
	var byToken struct{ BookingByToken struct{ ID string } }
	if errs := do(t, srv, "acme", `query($t: String!) { bookingByToken(token: $t) { id } }`, map[string]any{"t": again.CreateBooking.ManageToken}, &byToken); errs != nil ||
		byToken.BookingByToken.ID != made.CreateBooking.Booking.ID {
		t.Errorf("the replay's link: %+v %+v", byToken, errs)
	}
	// The key with another request is not a replay: still limited, nothing revealed.
	_, retry, r = post(t, srv, "acme", "", create, input("key-1", "mallory@example.com"))
	checkRetryAfter(t, "a used key for someone else over the limit", retry, r.Errors)

	// Failed sign-ins: the 429 says when too.
	for range 10 {
		post(t, srv, "acme", "rsv_guessing-guessing-guessing", `{ me { name } }`, nil)
	}
	status, retry, r = post(t, srv, "acme", tokens["acme"][domain.RoleOwner], `{ me { name } }`, nil)
	checkRetryAfter(t, "after 10 failed sign-ins", retry, r.Errors)
	if status != http.StatusTooManyRequests {
		t.Errorf("failed sign-ins: status %d", status)
	}
}
