package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
)

// createBooking's inputs, as a client sends them: whatever the values, the answer is a booking
// or errors with a code the client can act on, never an internal error or a server failure.
func FuzzCreateBookingInput(f *testing.F) {
	srv := server(f)
	h := srv.Config.Handler
	f.Add("1", "", "2030-01-07T10:00:00+01:00", "Eva", "eva@example.com", "", "", "")
	f.Add("1", "1", "2030-01-07T10:00:00Z", "Eva", "eva@example.com", "+34 600", "notes", "key-1")
	f.Add("999999999999999999999", "-1", "not a date", "", "@", "x", "", "")
	f.Add("1' OR 1=1 --", "1", "2030-13-40T25:61:00Z", "Robert'); DROP TABLE bookings;--", "a@b.c", "", "\x00", "\xff")
	f.Add("1", "1", "0001-01-01T00:00:00Z", "\u202eEva", "eva@example.com\r\nBcc: x@y.z", "", "", "")
	n := 0
	f.Fuzz(func(t *testing.T, serviceID, staffID, start, name, email, phone, notes, key string) {
		input := map[string]any{"serviceId": serviceID, "start": start,
			"customer": map[string]any{"name": name, "email": email, "phone": phone}, "notes": notes, "idempotencyKey": key}
		if staffID != "" {
			input["staffId"] = staffID
		}
		body, _ := json.Marshal(map[string]any{
			"query":     `mutation($input: CreateBookingInput!) { createBooking(input: $input) { booking { id start status } manageToken } }`,
			"variables": map[string]any{"input": input},
		})
		req := httptest.NewRequest("POST", "/acme/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		n++
		req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", n>>16&255, n>>8&255, n&255) // stay under the per-client limit
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var res gqlResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("not JSON (%d): %s", rec.Code, rec.Body)
		}
		for _, e := range res.Errors {
			if c, _ := e.Extensions["code"].(string); c == "" || c == "INTERNAL" {
				t.Fatalf("error without a usable code for %s: %+v", body, e)
			}
		}
		if len(res.Errors) == 0 && !bytes.Contains(res.Data, []byte(`"manageToken"`)) {
			t.Fatalf("no booking and no error: %s", rec.Body)
		}
	})
}
