package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

//go:embed migrations
var migrations embed.FS

// migrationLockID is the PostgreSQL advisory lock that serialises migrations
// when several instances start at once.
const migrationLockID = 4242_2026

// goSteps are the parts of migrations that only Go can do, run in the same
// transaction right after the version's SQL.
var goSteps = map[int]func(tx *gorm.DB) error{
	5: rekeyCities,
}

// rekeyCities sets city_key to CityKey(city) on existing rows. It works per
// distinct city (a few dozen), not per player.
func rekeyCities(tx *gorm.DB) error {
	var cities []string
	if err := tx.Raw("SELECT DISTINCT city FROM users").Scan(&cities).Error; err != nil {
		return err
	}
	for _, city := range cities {
		key := CityKey(city)
		if err := tx.Exec("UPDATE users SET city_key = ? WHERE city = ? AND city_key <> ?", key, city, key).Error; err != nil {
			return err
		}
		if err := tx.Exec("UPDATE player_totals SET city_key = ? WHERE city_key <> ? AND user_id IN (SELECT id FROM users WHERE city = ?)",
			key, key, city).Error; err != nil {
			return err
		}
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(dialect string) ([]migration, error) {
	dir := "migrations/" + dialect
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", e.Name())
		}
		body, err := fs.ReadFile(migrations, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: e.Name(), sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the pending migrations in one transaction. On PostgreSQL a
// transaction-scoped advisory lock makes concurrent starters wait for the
// first one and then find nothing left to do.
func (s *Store) migrate(ctx context.Context) error {
	list, err := loadMigrations(s.dialect)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == "postgres" {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockID).Error; err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		if err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at TIMESTAMP NOT NULL)`).Error; err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var applied []int
		if err := tx.Raw("SELECT version FROM schema_migrations").Scan(&applied).Error; err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		done := make(map[int]bool, len(applied))
		for _, v := range applied {
			done[v] = true
		}
		for _, m := range list {
			if done[m.version] {
				continue
			}
			if err := tx.Exec(m.sql).Error; err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if step := goSteps[m.version]; step != nil {
				if err := step(tx); err != nil {
					return fmt.Errorf("apply migration %s (Go step): %w", m.name, err)
				}
			}
			if err := tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.version, m.name, now()).Error; err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}
