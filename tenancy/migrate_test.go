package tenancy_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/migrations"
	"github.com/reserva/reserva/tenancy"
)

// A step may rebuild a table that other rows refer to, as SQLite's documented procedure does
// (new table, copy, drop, rename): the runner turns enforcement off around it, checks every key
// before it commits, and the writer enforces foreign keys again afterwards.
func TestMigrationRebuildsReferencedTable(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	v1 := `CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
		CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents (id));`
	old := e.Manager(t, tenanttest.Migs(t, v1), tenancy.Config{})
	acme := tenanttest.MustProvision(t, old, "acme")
	tenanttest.Exec(t, old, acme, `INSERT INTO parents VALUES (1, 'a'), (2, 'b')`)
	tenanttest.Exec(t, old, acme, `INSERT INTO children VALUES (10, 1), (11, 2), (12, 2)`)
	if err := old.Close(ctx); err != nil {
		t.Fatal(err)
	}

	rebuild := `CREATE TABLE parents_new (id INTEGER PRIMARY KEY, name TEXT);
		INSERT INTO parents_new SELECT id, name FROM parents;
		DROP TABLE parents;
		ALTER TABLE parents_new RENAME TO parents;`
	m := e.Manager(t, tenanttest.Migs(t, v1, rebuild), tenancy.Config{})
	l, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatalf("migrating with a rebuilt parent table: %v", err)
	}
	if v := version(t, l); v != 2 {
		t.Errorf("version %d, want 2", v)
	}
	var notNull, joined int
	if err := l.DB.Read.QueryRow(`SELECT "notnull" FROM pragma_table_info('parents') WHERE name = 'name'`).Scan(&notNull); err != nil {
		t.Fatal(err)
	}
	if err := l.DB.Read.QueryRow(`SELECT count(*) FROM children JOIN parents ON parents.id = children.parent_id`).Scan(&joined); err != nil {
		t.Fatal(err)
	}
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
		m2 := e.Manager(t, tenanttest.Migs(t, v1, rebuild, orphan), tenancy.Config{})
		_, err := m2.Acquire(ctx, acme)
		var stepErr *tenancy.MigrationError
		if !errors.As(err, &stepErr) || !strings.Contains(err.Error(), "row 20 of children refers to a row of parents") {
			t.Fatalf("a step leaving a dangling key: %v, want a MigrationError naming the row", err)
		}
		if rec, _ := e.Reg.Get(ctx, acme.ID); rec.SchemaVersion != 2 || rec.MigrationStatus != tenancy.MigrationFailed {
			t.Errorf("registry: version %d status %s, want 2 failed", rec.SchemaVersion, rec.MigrationStatus)
		}
		path, _ := m2.Path(acme.ID)
		db, err := openRaw(path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM children WHERE id = 20`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Error("the failed step's row was committed")
		}
	})
}

// The migration that lets customers.email be NULL, on a business made before it: every row,
// key and index is kept, the "noemail:" placeholders the branch stored become NULL, and
// addresses stay unique. A business made after it (from the new template) has the new table.
func TestCustomerEmailOptionalMigration(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	all := migrations.Tenant()
	at := slices.IndexFunc(all, func(m migrations.Migration) bool { return strings.HasSuffix(m.Name, "_customer_email_optional.sql") })
	if at < 0 {
		t.Fatal("no customer_email_optional migration")
	}
	old := e.Manager(t, all[:at], tenancy.Config{})
	acme := tenanttest.MustProvision(t, old, "acme")
	tenanttest.Exec(t, old, acme, `INSERT INTO staff (id, name, created_at) VALUES (1, 'Ana', 0)`)
	tenanttest.Exec(t, old, acme, `INSERT INTO services (id, name, duration_min, price_currency, created_at, updated_at) VALUES (1, 'Cut', 30, 'EUR', 0, 0)`)
	tenanttest.Exec(t, old, acme, `INSERT INTO customers (id, name, email, phone, notes, created_at) VALUES
		(1, 'Eva', 'eva@example.com', '', 'likes tea', 100),
		(2, 'Pablo', 'noemail:0123456789abcdef0123456789abcdef', '600 111 222', '', 200),
		(5, 'Walk-in', 'noemail:fedcba9876543210fedcba9876543210', '', '', 300),
		(6, 'Ivo', 'ivo@example.com', '+34 (600) 111-222 ext. 5', '', 400),
		(7, 'Ona', 'noemail:00000000000000000000000000000000', 'n/a +', '', 500),
		(8, 'Lea', 'noemail:11111111111111111111111111111111', ' 00+34 600.111 ', '', 600)`)
	for i, customer := range []int{1, 2, 5, 5} {
		tenanttest.Exec(t, old, acme, `INSERT INTO bookings (service_id, staff_id, customer_id, start_at, end_at, block_start, block_end, status, created_at, updated_at)
			VALUES (1, 1, ?1, ?2, ?2 + 1800, ?2, ?2 + 1800, 'confirmed', 0, 0)`, customer, 1_000_000+i*3600)
	}
	if err := old.Close(ctx); err != nil {
		t.Fatal(err)
	}

	m := e.Manager(t, nil, tenancy.Config{})
	l, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatalf("lazy migration: %v", err)
	}
	defer l.Release()
	if v := version(t, l); v != m.LatestVersion() {
		t.Errorf("version %d, want %d", v, m.LatestVersion())
	}
	rows, err := l.DB.Read.Query(`SELECT c.id, c.name, coalesce(c.email, '<null>'), c.phone, c.notes, c.created_at, count(b.id)
		FROM customers c LEFT JOIN bookings b ON b.customer_id = c.id GROUP BY c.id ORDER BY c.id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, created, bookings int
		var name, email, phone, notes string
		if err := rows.Scan(&id, &name, &email, &phone, &notes, &created, &bookings); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{strconv.Itoa(id), name, email, phone, notes, strconv.Itoa(created), strconv.Itoa(bookings)}, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"1|Eva|eva@example.com||likes tea|100|1", "2|Pablo|<null>|600 111 222||200|1", "5|Walk-in|<null>|||300|2",
		"6|Ivo|ivo@example.com|+34 (600) 111-222 ext. 5||400|0", "7|Ona|<null>|n/a +||500|0", "8|Lea|<null>| 00+34 600.111 ||600|0"}
	if !slices.Equal(got, want) {
		t.Errorf("customers after the migration:\n got %q\nwant %q", got, want)
	}
	// Each phone's key, for finding a customer by phone however it was typed: its digits, after
	// a "+" written before them (domain's phoneKey).
	var keys []string
	rows, err = l.DB.Read.Query(`SELECT phone_key FROM customers ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if rows.Close(); !slices.Equal(keys, []string{"", "600111222", "", "+346001112225", "", "0034600111"}) {
		t.Errorf("phone keys %q", keys)
	}
	var dangling int
	if err := l.DB.Read.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&dangling); err != nil {
		t.Fatal(err)
	}
	var fkTarget string
	if err := l.DB.Read.QueryRow(`SELECT "table" FROM pragma_foreign_key_list('bookings') WHERE "from" = 'customer_id'`).Scan(&fkTarget); err != nil {
		t.Fatal(err)
	}
	if dangling != 0 || fkTarget != "customers" {
		t.Errorf("%d dangling keys; bookings.customer_id refers to %q", dangling, fkTarget)
	}
	// Many customers without email; an address at most once; never an empty one.
	if _, err := l.DB.Write.Exec(`INSERT INTO customers (name, email, created_at) VALUES ('Another walk-in', NULL, 0)`); err != nil {
		t.Errorf("a third customer without email: %v", err)
	}
	for _, email := range []string{"eva@example.com", ""} {
		if _, err := l.DB.Write.Exec(`INSERT INTO customers (name, email, created_at) VALUES ('X', ?, 0)`, email); err == nil {
			t.Errorf("a customer with the email %q was accepted", email)
		}
	}
	// The index bookings use to find a customer's history survived the rebuild of customers.
	var idx int
	if err := l.DB.Read.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'bookings_customer_idx'`).Scan(&idx); err != nil {
		t.Fatal(err)
	}
	if idx != 1 {
		t.Error("bookings_customer_idx is gone")
	}

	// A business created now gets the template at the new version, with the new table.
	fresh := tenanttest.MustProvision(t, m, "fresh")
	fl, err := m.Acquire(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Release()
	if v := version(t, fl); v != m.LatestVersion() {
		t.Errorf("new business at version %d, want %d", v, m.LatestVersion())
	}
	if _, err := fl.DB.Write.Exec(`INSERT INTO customers (name, email, created_at) VALUES ('A', NULL, 0), ('B', NULL, 0)`); err != nil {
		t.Errorf("customers without email in a new business: %v", err)
	}
}
