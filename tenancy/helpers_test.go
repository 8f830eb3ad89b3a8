package tenancy_test

import (
	"database/sql"
	"io"
	"net/http"
	"testing"

	"github.com/reserva/reserva/tenancy"
)

func version(tb testing.TB, l *tenancy.Lease) int {
	tb.Helper()
	var v int
	if err := l.DB.Read.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// openRaw opens a database file directly, as an operator's sqlite3 shell would.
func openRaw(path string) (*sql.DB, error) { return sql.Open("sqlite3", "file:"+path+"?mode=rw") }

func get(t *testing.T, c *http.Client, url, host string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}
