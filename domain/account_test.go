package domain_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// A user changes their own name and password: the current password is checked first, the
// new one meets the rules, and every session of theirs ends (the epoch moves on).
func TestChangePasswordAndName(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))
	u, err := s.CreateUser(ctx, domain.NewUser{Email: "ana@example.com", Name: "Ana", Role: domain.RoleOwner, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	field := func(err error) string {
		var e *domain.Error
		if errors.As(err, &e) && e.Code == domain.EINVALID {
			return e.Field
		}
		return "not EINVALID: " + domain.ErrorCode(err)
	}
	if _, err := s.ChangePassword(ctx, u.ID, "wrong guess at it", "a whole new password"); field(err) != "current" {
		t.Errorf("wrong current password: %v", err)
	}
	if _, err := s.ChangePassword(ctx, u.ID, "correct horse battery", "short"); field(err) != "password" {
		t.Errorf("short new password: %v", err)
	}
	if _, err := s.ChangePassword(ctx, u.ID+99, "correct horse battery", "a whole new password"); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("no such user: %v", err)
	}
	changed, err := s.ChangePassword(ctx, u.ID, "correct horse battery", "a whole new password")
	if err != nil || changed.SessionEpoch != u.SessionEpoch+1 {
		t.Fatalf("change: %v, epoch %d → %d", err, u.SessionEpoch, changed.SessionEpoch)
	}
	if _, err := s.Authenticate(ctx, "ana@example.com", "a whole new password"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ana@example.com", "correct horse battery"); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
		t.Errorf("the old password: %v", err)
	}
	if _, err := s.RenameUser(ctx, u.ID, " "); field(err) != "name" {
		t.Errorf("empty name: %v", err)
	}
	if got, err := s.RenameUser(ctx, u.ID, "  Ana María "); err != nil || got.Name != "Ana María" {
		t.Errorf("rename: %v %q", err, got.Name)
	}
}
