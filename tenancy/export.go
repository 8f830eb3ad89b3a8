package tenancy

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Secrets are not part of an export: sessions, manage-token and reset-link hashes are left out, and
// credential hashes are replaced by this marker.
var (
	exportSkipTables = map[string]bool{"sessions": true, "booking_tokens": true, "password_resets": true}
	exportRedact     = map[string]bool{"users.password_hash": true, "api_tokens.token_hash": true, "outbox.link_path": true}
)

const redacted = "[redacted]"

// exportLane lets one export run at a time.
var exportLane = make(chan struct{}, 1)

// Export writes all of t's data to dir (GDPR access and portability): dump.sql, a SQL script
// that recreates the database, one <table>.json per table (an array of row objects), and
// business.json with the registry's record. It returns the files written.
//
// The files are not synced to disk: the dashboard zips them from a temporary directory and
// deletes them a moment later, and a flush per file (18 new files a business) was disk work
// for nothing; without it a business exporting back to back finished about a quarter more
// exports. A caller that keeps the files calls SyncExport.
func (m *Manager) Export(ctx context.Context, t Tenant, dir string) ([]string, error) {
	// One export at a time in the process: exports are rare, big and never urgent.
	select {
	case exportLane <- struct{}{}:
		defer func() { <-exportLane }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	l, err := m.Acquire(ctx, t)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	// One read transaction: every file shows the same moment.
	tx, err := l.DB.Read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var files []string
	write := func(name string, fn func(*bufio.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		err = errors.Join(fn(w), w.Flush(), f.Close())
		if err == nil {
			files = append(files, name)
		}
		return err
	}
	if err := write("business.json", func(w *bufio.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(map[string]any{"id": t.ID, "slug": t.Slug, "name": t.Name, "timezone": t.Timezone,
			"created_at": t.CreatedAt, "schema_version": t.SchemaVersion})
	}); err != nil {
		return nil, fmt.Errorf("export %s: %w", t.Slug, err)
	}

	rows, err := tx.QueryContext(ctx, `SELECT type, name, tbl_name, sql FROM sqlite_schema
		WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'table' DESC, rowid`)
	if err != nil {
		return nil, err
	}
	type object struct{ typ, name, table, sql string }
	var schema []object
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.typ, &o.name, &o.table, &o.sql); err != nil {
			rows.Close()
			return nil, err
		}
		schema = append(schema, o)
	}
	rows.Close()

	err = write("dump.sql", func(w *bufio.Writer) error {
		fmt.Fprintf(w, "-- Reserva export of %s (%s), schema version %d\nPRAGMA foreign_keys=OFF;\nBEGIN;\n", t.Name, t.Slug, t.SchemaVersion)
		for _, o := range schema {
			if exportSkipTables[o.table] {
				continue
			}
			fmt.Fprintf(w, "%s;\n", o.sql)
			if o.typ != "table" {
				continue
			}
			if err := eachRow(ctx, tx, o.name, func(cols []string, vals []any) error {
				lits := make([]string, len(vals))
				for i, v := range vals {
					lits[i] = sqlLiteral(v)
				}
				_, err := fmt.Fprintf(w, "INSERT INTO %q VALUES (%s);\n", o.name, strings.Join(lits, ", "))
				return err
			}); err != nil {
				return err
			}
		}
		_, err := w.WriteString("COMMIT;\n")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", t.Slug, err)
	}

	for _, o := range schema {
		if o.typ != "table" || exportSkipTables[o.name] {
			continue
		}
		err := write(o.name+".json", func(w *bufio.Writer) error {
			w.WriteString("[")
			n := 0
			err := eachRow(ctx, tx, o.name, func(cols []string, vals []any) error {
				row := make(map[string]any, len(cols))
				for i, c := range cols {
					if b, ok := vals[i].([]byte); ok {
						vals[i] = hex.EncodeToString(b)
					}
					row[c] = vals[i]
				}
				js, err := json.Marshal(row)
				if n > 0 {
					w.WriteString(",")
				}
				n++
				w.WriteString("\n  ")
				w.Write(js)
				return err
			})
			w.WriteString("\n]\n")
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", t.Slug, err)
		}
	}
	return files, nil
}

// eachRow calls fn with every row of table, credentials redacted.
func eachRow(ctx context.Context, tx *sql.Tx, table string, fn func(cols []string, vals []any) error) error {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT * FROM %q", table))
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	for n := 0; rows.Next(); n++ {
		// An export is bulk work beside live requests: it lets every waiting goroutine run
		// before each next batch of rows, so requests of other businesses go first.
		if n%32 == 31 {
			runtime.Gosched()
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, c := range cols {
			if exportRedact[table+"."+c] {
				vals[i] = redacted
			}
		}
		if err := fn(cols, vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// sqlLiteral writes v as an SQLite literal.
func sqlLiteral(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		if v {
			return "1"
		}
		return "0"
	case []byte:
		return "X'" + hex.EncodeToString(v) + "'"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	default:
		return "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
	}
}

// SyncExport makes the files that Export wrote to dir durable: each file, then the directory.
func SyncExport(dir string, files []string) error {
	for _, name := range files {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = errors.Join(f.Sync(), f.Close())
		if err != nil {
			return err
		}
	}
	return syncDir(dir)
}
