package tenancy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/reserva/reserva/tenancy"
)

// A step may rebuild a table that other rows refer to, as SQLite's documented procedure does
// (new table, copy, drop, rename): the runner turns enforcement off around it, checks every key
// before it commits, and the writer enforces foreign keys again afterwards.
func TestMigrationRebuildsReferencedTable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	v1 := `CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
		CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents (id));`
	old := e.manager(t, migs(t, v1), tenancy.Config{})
	acme := mustProvision(t, old, "acme")
	exec(t, old, acme, `INSERT INTO parents VALUES (1, 'a'), (2, 'b')`)
	exec(t, old, acme, `INSERT INTO children VALUES (10, 1), (11, 2), (12, 2)`)
	if err := old.Close(ctx); err != nil {
		t.Fatal(err)
	}

	rebuild := `CREATE TABLE parents_new (id INTEGER PRIMARY KEY, name TEXT);
		INSERT INTO parents_new SELECT id, name FROM parents;
		DROP TABLE parents;
		ALTER TABLE parents_new RENAME TO parents;`
	m := e.manager(t, migs(t, v1, rebuild), tenancy.Config{})
	l, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatalf("migrating with a rebuilt parent table: %v", err)
	}
	if v := version(t, l); v != 2 {
		t.Errorf("version %d, want 2", v)
	}
	var notNull, joined int
	l.DB.Read.QueryRow(`SELECT "notnull" FROM pragma_table_info('parents') WHERE name = 'name'`).Scan(&notNull)
	l.DB.Read.QueryRow(`SELECT count(*) FROM children JOIN parents ON parents.id = children.parent_id`).Scan(&joined)
	if notNull != 0 || joined != 3 {
		t.Errorf("after the rebuild: name not null = %d, %d children joined to their parent (want 0, 3)", notNull, joined)
	}
	var fk int
	if err := l.DB.Write.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v after migrating; want 1", fk, err)
	}
	if _, err := l.DB.Write.Exec(`INSERT INTO children VALUES (13, 99)`); err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("a child of no parent after migrating: %v, want a foreign key error", err)
	}
	l.Release()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("ErrDanglingKey", func(t *testing.T) {
		// A step that leaves a row pointing nowhere is rolled back as a whole.
		orphan := `ALTER TABLE children ADD COLUMN note TEXT; INSERT INTO children (id, parent_id) VALUES (20, 42);`
		m2 := e.manager(t, migs(t, v1, rebuild, orphan), tenancy.Config{})
		_, err := m2.Acquire(ctx, acme)
		var stepErr *tenancy.MigrationError
		if !errors.As(err, &stepErr) || !strings.Contains(err.Error(), "row 20 of children refers to a row of parents") {
			t.Fatalf("a step leaving a dangling key: %v, want a MigrationError naming the row", err)
		}
		if rec, _ := e.reg.Get(ctx, acme.ID); rec.SchemaVersion != 2 || rec.MigrationStatus != tenancy.MigrationFailed {
			t.Errorf("registry: version %d status %s, want 2 failed", rec.SchemaVersion, rec.MigrationStatus)
		}
		path, _ := m2.Path(acme.ID)
		db, err := openRaw(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		db.QueryRow(`SELECT count(*) FROM children WHERE id = 20`).Scan(&n)
		if n != 0 {
			t.Error("the failed step's row was committed")
		}
	})
}
