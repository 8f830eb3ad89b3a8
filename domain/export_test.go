package domain_test

import (
	"context"
	"strings"
	"testing"

	"github.com/reserva/reserva/domain"
)

// secretWords are parts of a column name that suggest its value is a credential.
var secretWords = []string{"hash", "token", "secret", "password", "passwd", "key", "salt", "nonce", "otp", "credential", "session"}

// Every column of every table of a freshly migrated business whose name suggests a secret is
// skipped or redacted by the export policy (or listed as looked at and not secret), and the
// policy names only tables and columns that exist.
func TestExportPolicy(t *testing.T) {
	ctx := context.Background()
	db := mustOpenLease(t, "UTC").DB.Read
	p := domain.NewExportPolicy()

	rows, err := db.QueryContext(ctx, `SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tables, columns := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		tables[table], columns[table+"."+col] = true, true
		if p.SkipsTable(table) || p.Redacts(table, col) || p.NotSecret[table+"."+col] {
			continue
		}
		for _, w := range secretWords {
			if strings.Contains(strings.ToLower(col), w) {
				t.Errorf("column %s.%s looks like a secret (%q) and would be exported: skip its table or redact it in domain.NewExportPolicy", table, col, w)
				break
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 10 {
		t.Fatalf("found only tables %v: is the database migrated?", tables)
	}
	for table := range p.SkipTables {
		if !tables[table] {
			t.Errorf("the export policy skips table %s, which does not exist", table)
		}
	}
	copyDrops := map[string]bool{}
	for _, table := range domain.CopyDropTables() {
		copyDrops[table] = true
		if !tables[table] {
			t.Errorf("a copy of a business drops table %s, which does not exist", table)
		}
	}
	for table := range p.SkipTables {
		if !copyDrops[table] {
			t.Errorf("the export leaves out table %s as secret, but a copy of the business keeps it", table)
		}
	}
	for name, set := range map[string]map[string]bool{"redacts": p.Redact, "calls not secret": p.NotSecret} {
		for col := range set {
			if !columns[col] {
				t.Errorf("the export policy %s column %s, which does not exist", name, col)
			}
			if p.Redact[col] && p.NotSecret[col] {
				t.Errorf("the export policy both redacts %s and calls it not secret", col)
			}
		}
	}
}
