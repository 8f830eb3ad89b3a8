package web_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/reserva/reserva/tenancy"
)

// A request that meets a damaged page of its business's database answers 503 with Retry-After
// (not 500 "Something went wrong"), and the business is marked failed for the operator.
func TestDamagedPageAnswers503(t *testing.T) {
	ctx := context.Background()
	srv, m := site(t)
	withLease(t, m, "acme", func(ctx context.Context, l *tenancy.Lease) {
		if _, err := l.DB.Write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
	})
	acme, _, err := m.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	damageTable(t, m, acme, "services")
	status, body, h := send(t, browser(t), "GET", srv.URL+"/acme", "", nil)
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || strings.Contains(body, "Something went wrong") {
		t.Errorf("GET /acme = %d (Retry-After %q), want 503 with Retry-After:\n%s", status, h.Get("Retry-After"), body)
	}
	got, err := m.Registry().Get(ctx, acme.ID)
	if err != nil || got.MigrationStatus != tenancy.MigrationFailed {
		t.Errorf("registry: %+v %v, want failed", got, err)
	}
	if status, _, _ := send(t, browser(t), "GET", srv.URL+"/other", "", nil); status != http.StatusOK {
		t.Errorf("GET /other = %d, want 200", status)
	}
}

// damageTable overwrites the root page of table in t's database, with its handle closed, as a
// failing disk would.
func damageTable(tb testing.TB, m *tenancy.Manager, t tenancy.Tenant, table string) {
	tb.Helper()
	path, _ := m.Path(t.ID)
	err := m.Exclusive(context.Background(), t.ID, func() error {
		db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
		if err != nil {
			return err
		}
		var page, size int64
		err = db.QueryRow(`SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_schema WHERE name = ?`, table).Scan(&page, &size)
		_ = db.Close()
		if err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		junk := make([]byte, size)
		rand.Read(junk)
		_, err = f.WriteAt(junk, (page-1)*size)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// A GraphQL operation whose resolver meets a damaged page answers as the README says of
// TENANT_UNAVAILABLE: HTTP 503 with Retry-After, so that clients retry later (before: 200, no
// Retry-After, the error only in the body).
func TestGraphQLDamagedPageAnswers503(t *testing.T) {
	ctx := context.Background()
	srv, m := site(t)
	withLease(t, m, "acme", func(ctx context.Context, l *tenancy.Lease) {
		if _, err := l.DB.Write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
	})
	acme, _, err := m.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	damageTable(t, m, acme, "customers")
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	status, body, h := send(t, c, "POST", srv.URL+"/acme/graphql", `{"query":"{ customers(first: 5) { edges { node { id } } } }"}`,
		map[string]string{"Content-Type": "application/json"})
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(body, `"code":"TENANT_UNAVAILABLE"`) {
		t.Errorf("customers of a damaged file: %d (Retry-After %q), want 503 with Retry-After:\n%s", status, h.Get("Retry-After"), body)
	}
}
