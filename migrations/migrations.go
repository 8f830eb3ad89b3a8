// Package migrations holds the versioned SQL schemas of Reserva, embedded in the binary:
// registry/ for the control-plane database and tenant/ for every tenant's own database.
//
// A migration is a file named NNNN_description.sql. Versions start at 1 and have no gaps, so
// "version N" always means the same schema on every tenant.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
)

//go:embed registry/*.sql tenant/*.sql
var files embed.FS

// Migration is one versioned step of a schema.
type Migration struct {
	Version int
	Name    string // file name, e.g. "0002_bookings.sql"
	SQL     string
}

// Registry returns the migrations of the registry database, in order.
func Registry() []Migration { return mustLoad(files, "registry") }

// Tenant returns the migrations of a tenant database, in order.
func Tenant() []Migration { return mustLoad(files, "tenant") }

func mustLoad(fsys fs.FS, dir string) []Migration {
	ms, err := Load(fsys, dir)
	if err != nil {
		panic(err) // embedded files are checked by the tests; a bad name is a build defect
	}
	return ms
}

var fileName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// Load reads the migrations in dir of fsys. It rejects badly named files, duplicate versions and
// gaps, so a mistake in a migration's name fails the build's tests instead of a tenant.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations %s: %w", dir, err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s/%s: name must look like 0001_description.sql", dir, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s/%s: %w", dir, e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s/%s: expected version %04d (versions start at 1 with no gaps or duplicates)", dir, m.Name, i+1)
		}
	}
	return ms, nil
}

// Latest is the version a schema has after all of ms are applied.
func Latest(ms []Migration) int { return len(ms) }
