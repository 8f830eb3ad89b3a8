package domain_test

import (
	"context"
	"strings"
	"testing"

	"github.com/reserva/reserva/domain"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	owner, err := s.CreateUser(ctx, domain.NewUser{Email: " Boss@Example.com", Name: "Boss", Role: domain.RoleOwner, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if owner.Email != "boss@example.com" {
		t.Errorf("email stored as %q", owner.Email)
	}
	if _, err := s.CreateUser(ctx, domain.NewUser{Email: "boss@example.com", Name: "Again", Role: domain.RoleStaff, Password: "0123456789"}); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Errorf("duplicate email: %v", err)
	}
	if _, err := s.CreateUser(ctx, domain.NewUser{Email: "x@example.com", Name: "X", Role: domain.RoleStaff, Password: "short"}); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("short password: %v", err)
	}

	t.Run("Authenticate", func(t *testing.T) {
		if u, err := s.Authenticate(ctx, "BOSS@example.com", "correct horse battery"); err != nil || u.ID != owner.ID {
			t.Errorf("right password: %+v %v", u, err)
		}
		_, wrong := s.Authenticate(ctx, "boss@example.com", "wrong password!")
		_, unknown := s.Authenticate(ctx, "nobody@example.com", "wrong password!")
		if domain.ErrorCode(wrong) != domain.EUNAUTHORIZED || domain.ErrorMessage(wrong) != domain.ErrorMessage(unknown) {
			t.Errorf("wrong password %q vs unknown email %q: must not differ", wrong, unknown)
		}
	})
	t.Run("KeepsAnOwner", func(t *testing.T) {
		if err := s.RemoveUser(ctx, owner.ID); domain.ErrorCode(err) != domain.ECONFLICT {
			t.Errorf("remove the last owner: %v", err)
		}
		if _, err := s.SetUserRole(ctx, owner.ID, domain.RoleStaff); domain.ErrorCode(err) != domain.ECONFLICT {
			t.Errorf("demote the last owner: %v", err)
		}
		second, err := s.CreateUser(ctx, domain.NewUser{Email: "two@example.com", Name: "Two", Role: domain.RoleOwner, Password: "0123456789"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveUser(ctx, second.ID); err != nil {
			t.Errorf("remove one of two owners: %v", err)
		}
	})
	t.Run("APITokens", func(t *testing.T) {
		tok, secret, err := s.CreateAPIToken(ctx, "Zapier", domain.RoleStaff, owner.ID)
		if err != nil || !strings.HasPrefix(secret, "rsv_") || len(secret) < 50 {
			t.Fatalf("%+v %q %v", tok, secret, err)
		}
		got, err := s.AuthenticateAPIToken(ctx, secret)
		if err != nil || got.ID != tok.ID || got.Role != domain.RoleStaff {
			t.Errorf("authenticate: %+v %v", got, err)
		}
		list, _ := s.APITokens(ctx)
		if len(list) != 1 || list[0].LastUsedAt.IsZero() {
			t.Errorf("list: %+v", list)
		}
		if err := s.RevokeAPIToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AuthenticateAPIToken(ctx, secret); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
			t.Errorf("revoked token: %v", err)
		}
	})
}
