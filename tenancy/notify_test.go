package tenancy_test

import (
	"context"
	"testing"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// NextCommit's channel closes when a commit through the writer is visible to readers, and only
// then (a read does not close it).
func TestNextCommit(t *testing.T) {
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, tenanttest.Migs(t, "CREATE TABLE t (x INTEGER)"), tenancy.Config{})
	ctx := context.Background()
	l, err := m.Acquire(ctx, tenanttest.MustProvision(t, m, "acme"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	next := l.DB.NextCommit()
	var n int
	if err := l.DB.Read.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	select {
	case <-next:
		t.Fatal("closed without a commit")
	default:
	}
	if _, err := l.DB.Write.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-next:
	default:
		t.Fatal("still open after a commit")
	}
	if err := l.DB.Read.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Errorf("a reader woken by the commit sees %d rows (%v)", n, err)
	}
	if again := l.DB.NextCommit(); again == next {
		t.Error("the next commit's channel is the one already closed")
	}
}
