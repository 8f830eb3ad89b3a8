package domain

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// --- resources ---

// CreateResource stores a new resource and returns its id.
func (s *Store) CreateResource(ctx context.Context, name string) (int64, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxNameLen {
		return 0, Invalid("name", "name must be 1 to %d characters", MaxNameLen)
	}
	id, err := s.insert(ctx, `INSERT INTO resources (name, active, created_at) VALUES (?, 1, ?) RETURNING id`,
		name, s.now().Unix())
	if err != nil {
		return 0, fmt.Errorf("create resource: %w", err)
	}
	return id, nil
}

// Resources lists the active resources.
func (s *Store) Resources(ctx context.Context) ([]Resource, error) {
	return all(ctx, s.r, "list resources", func(row interface{ Scan(...any) error }) (Resource, error) {
		var r Resource
		err := row.Scan(&r.ID, &r.Name, &r.Active)
		return r, err
	}, `SELECT id, name, active FROM resources WHERE active ORDER BY name, id`)
}
