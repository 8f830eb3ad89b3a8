package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/logctx"
)

// Internal errors reach clients only as "internal error", and the log gets the details with the
// field path, tenant and request id; user errors keep their message and get a code.
func TestPresentError(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logctx.NewHandler(slog.NewTextHandler(&buf, nil)))
	present := presentError(log)
	ctx := logctx.With(context.Background(), slog.String("request_id", "req-42"), slog.String("tenant", "acme"))
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Field: graphql.CollectedField{}, Object: "Query"})

	got := present(ctx, fmt.Errorf("read bookings: %w", errors.New("disk I/O error at /data/tenants/x.db")))
	if got.Message != "internal error" || got.Extensions["code"] != "INTERNAL" {
		t.Errorf("internal error shown as %q %v", got.Message, got.Extensions)
	}
	logged := buf.String()
	for _, want := range []string{"disk I/O error", "request_id=req-42", "tenant=acme", "path="} {
		if !strings.Contains(logged, want) {
			t.Errorf("log %q lacks %q", logged, want)
		}
	}

	got = present(ctx, fmt.Errorf("create booking: %w", domain.Invalid("customer.email", "email %q is not an email address", "x")))
	if got.Extensions["code"] != "BAD_USER_INPUT" || got.Extensions["field"] != "customer.email" || !strings.Contains(got.Message, "is not an email address") {
		t.Errorf("user error: %q %v", got.Message, got.Extensions)
	}
}
