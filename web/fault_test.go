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
	path, _ := m.Path(acme.ID)
	// With its handle closed, as a failing disk would, overwrite the page of its services.
	err = m.Exclusive(ctx, acme.ID, func() error {
		db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
		if err != nil {
			return err
		}
		var page, size int64
		err = db.QueryRow(`SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_schema WHERE name = 'services'`).Scan(&page, &size)
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
		t.Fatal(err)
	}
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
