package migrations_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/reserva/reserva/migrations"
)

func TestEmbedded(t *testing.T) {
	for name, ms := range map[string][]migrations.Migration{"registry": migrations.Registry(), "tenant": migrations.Tenant()} {
		if len(ms) == 0 {
			t.Errorf("%s: no migrations", name)
		}
		for i, m := range ms {
			if m.Version != i+1 || strings.TrimSpace(m.SQL) == "" {
				t.Errorf("%s: migration %d is %d %q with %d bytes", name, i, m.Version, m.Name, len(m.SQL))
			}
		}
	}
}

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	t.Run("OK", func(t *testing.T) {
		ms, err := migrations.Load(fstest.MapFS{
			"m/0002_add_notes.sql": file("B"),
			"m/0001_init.sql":      file("A"),
		}, "m")
		if err != nil || len(ms) != 2 || ms[0].SQL != "A" || ms[1].Name != "0002_add_notes.sql" || migrations.Latest(ms) != 2 {
			t.Errorf("Load = %+v, %v", ms, err)
		}
	})
	for _, c := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"ErrGap", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")}, "expected version 0002"},
		{"ErrDuplicate", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B")}, "expected version 0002"},
		{"ErrStartsAtTwo", fstest.MapFS{"m/0002_a.sql": file("A")}, "expected version 0001"},
		{"ErrName", fstest.MapFS{"m/1_init.sql": file("A")}, "name must look like 0001_description.sql"},
		{"ErrExtension", fstest.MapFS{"m/0001_init.txt": file("A")}, "name must look like"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := migrations.Load(c.files, "m")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}
