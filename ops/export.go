package ops

import (
	"bufio"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// Secrets are not part of an export: the domain's export policy names the tables left out and
// the columns replaced by the redaction marker.
var (
	exportSkipTables = domain.NewExportPolicy().SkipTables
	exportRedact     = domain.NewExportPolicy().Redact
)

const redacted = domain.ExportRedacted

// exportLane lets one export run at a time.
var exportLane = make(chan struct{}, 1)

// Export writes all of t's data to dir (GDPR access and portability): dump.sql, a SQL script
// that recreates the database, one <table>.json per table (an array of row objects), and
// business.json with the registry's record. It returns the files written.
//
// The files are not synced to disk; a caller that keeps them calls SyncExport.
func (s *Service) Export(ctx context.Context, t tenancy.Tenant, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return s.ExportTo(ctx, t, func(name string) (io.WriteCloser, error) {
		return os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	})
}

// ExportTo writes the files of t's export (see Export) one after another, each to the writer
// create returns for its name, closed before the next is created: into a zip, say, with no
// files in between.
func (s *Service) ExportTo(ctx context.Context, t tenancy.Tenant, create func(name string) (io.WriteCloser, error)) ([]string, error) {
	// One export at a time in the process: exports are rare, big and never urgent.
	select {
	case exportLane <- struct{}{}:
		defer func() { <-exportLane }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	l, err := s.m.Acquire(ctx, t)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	// The text is read straight from SQLite's memory, on a connection of the read pool used
	// directly: database/sql would copy every row into a new string, and a big export made the
	// garbage collector run for everyone.
	conn, err := l.DB.Read.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// On a thread of its own at the lowest priority: requests of other businesses take the CPU
	// from it whenever they need it.
	var files []string
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(interface{ Raw() *sqlite3.Conn })
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		err := atLowPriority(func() (err error) {
			files, err = export(ctx, c.Raw(), t, create)
			return err
		})
		if !c.Raw().GetAutocommit() {
			// Its read transaction could not be ended: the connection must not serve again.
			return errors.Join(err, driver.ErrBadConn)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", t.Slug, err)
	}
	return files, nil
}

// export writes t's files from c, in one read transaction so that every file shows the same
// moment.
func export(ctx context.Context, c *sqlite3.Conn, t tenancy.Tenant, create func(string) (io.WriteCloser, error)) (files []string, err error) {
	old := c.SetInterrupt(ctx)
	if err := c.Exec("BEGIN"); err != nil {
		c.SetInterrupt(old)
		return nil, err
	}
	defer func() {
		c.SetInterrupt(old)    // a cancelled request must not interrupt the rollback too
		_ = c.Exec("ROLLBACK") // a read transaction: nothing to undo, and the connection is closed next
	}()

	pace := newPacer(bulkShare)
	write := func(name string, fn func(*bufio.Writer) error) error {
		f, err := create(name)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 32<<10)
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
		return nil, err
	}

	type object struct{ typ, name, table, sql string }
	var schema []object
	st, _, err := c.Prepare(`SELECT type, name, tbl_name, sql FROM sqlite_schema
		WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'table' DESC, rowid`)
	if err != nil {
		return nil, err
	}
	for st.Step() {
		if tenancy.IsInternalTable(st.ColumnText(2)) {
			continue // the replicator's bookkeeping, not the business's data
		}
		schema = append(schema, object{st.ColumnText(0), st.ColumnText(1), st.ColumnText(2), st.ColumnText(3)})
	}
	if err := errors.Join(st.Err(), st.Close()); err != nil {
		return nil, err
	}

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
			if err := eachLine(ctx, c, pace, o.name, insertLine, func(line []byte) {
				w.Write(line)
				w.WriteByte('\n')
			}); err != nil {
				return err
			}
		}
		_, err := w.WriteString("COMMIT;\n")
		return err
	})
	if err != nil {
		return nil, err
	}

	for _, o := range schema {
		if o.typ != "table" || exportSkipTables[o.name] {
			continue
		}
		err := write(o.name+".json", func(w *bufio.Writer) error {
			w.WriteString("[")
			sep := "\n  "
			err := eachLine(ctx, c, pace, o.name, jsonLine, func(line []byte) {
				w.WriteString(sep)
				w.Write(line)
				sep = ",\n  "
			})
			w.WriteString("\n]\n")
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// eachLine calls fn with one line of text for every row of table, made by SQLite from the
// table's columns with line (insertLine or jsonLine) and read in place: the export's text
// costs no Go allocations per row. Credentials are redacted; the work goes at pace's speed.
func eachLine(ctx context.Context, c *sqlite3.Conn, pace *pacer, table string, line func(table string, cols []string) string, fn func([]byte)) error {
	st, _, err := c.Prepare("SELECT * FROM " + ident(table) + " LIMIT 0")
	if err != nil {
		return err
	}
	cols := make([]string, st.ColumnCount())
	for i := range cols {
		cols[i] = st.ColumnName(i)
	}
	if err := st.Close(); err != nil {
		return err
	}
	st, _, err = c.Prepare(line(table, cols))
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }() // a failed step is reported by st.Err below
	for n := 0; st.Step(); n++ {
		// An export is bulk work beside live requests: it keeps to its share of a core.
		if n%32 == 31 {
			if err := pace.Step(ctx); err != nil {
				return err
			}
		}
		fn(st.ColumnRawText(0))
	}
	return st.Err()
}

// insertLine is the query of a table's rows as INSERT statements, SQLite's quote() writing
// each value as a literal.
func insertLine(table string, cols []string) string {
	vals := make([]string, len(cols))
	for i, c := range cols {
		vals[i] = "quote(" + column(table, c) + ")"
	}
	return "SELECT " + literal("INSERT INTO "+ident(table)+" VALUES (") + " || " +
		strings.Join(vals, " || ', ' || ") + " || ');' FROM " + ident(table)
}

// jsonLine is the query of a table's rows as JSON objects, keys in the columns' order and
// blobs in hex (JSON has no bytes).
func jsonLine(table string, cols []string) string {
	pairs := make([]string, len(cols))
	for i, c := range cols {
		v := column(table, c)
		pairs[i] = literal(c) + ", CASE WHEN typeof(" + v + ") = 'blob' THEN hex(" + v + ") ELSE " + v + " END"
	}
	return "SELECT json_object(" + strings.Join(pairs, ", ") + ") FROM " + ident(table)
}

// column is the SQL for a column's value in an export: the column, or the redaction marker.
func column(table, col string) string {
	if exportRedact[table+"."+col] {
		return literal(redacted)
	}
	return ident(col)
}

// ident quotes an SQL identifier; literal an SQL string.
func ident(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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
	return tenancy.SyncDir(dir)
}
