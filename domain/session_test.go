package domain_test

import (
	"context"
	"testing"
	"time"
)

// A session is found until its expiry, replaced by a later save, gone once deleted, and
// removed by DeleteExpiredSessions only after it expired, all by the store's clock.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	s, clk := mustOpenStore(t, "Europe/Madrid", monday)
	find := func(token string) string {
		t.Helper()
		data, ok, err := s.Session(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return "<none>"
		}
		return string(data)
	}
	if err := s.SaveSession(ctx, "a", []byte("first"), monday.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSession(ctx, "a", []byte("second"), monday.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSession(ctx, "b", []byte("short"), monday.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := find("a"); got != "second" {
		t.Errorf("session a = %q, want the second save", got)
	}
	if got := find("nobody"); got != "<none>" {
		t.Errorf("unknown token found: %q", got)
	}

	clk.Set(monday.Add(90 * time.Minute))
	if got := find("b"); got != "<none>" {
		t.Errorf("expired session b found: %q", got)
	}
	n, err := s.DeleteExpiredSessions(ctx)
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want only b removed", n, err)
	}
	if got := find("a"); got != "second" {
		t.Errorf("live session a = %q after expiry sweep", got)
	}
	if err := s.DeleteSession(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := find("a"); got != "<none>" {
		t.Errorf("deleted session a found: %q", got)
	}
}
