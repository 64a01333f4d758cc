// Package storetest gives tests a fresh database of each kind the platform
// runs on: SQLite always, PostgreSQL when ANB_TEST_DATABASE_URL names a
// server (./scripts/test starts one and sets it).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/anb/risingstars/app/store"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// DB is one database under test.
type DB struct {
	Name  string // "sqlite" or "postgres"
	Store *store.Store
	DSN   string // empty for SQLite
}

// Each runs f as a subtest once per database kind, each on a new database.
func Each(t *testing.T, f func(t *testing.T, db DB)) {
	t.Helper()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) { f(t, Open(t, name)) })
	}
}

// Open makes a new, migrated database of the given kind, removed at cleanup.
func Open(t testing.TB, kind string) DB {
	t.Helper()
	ctx := context.Background()
	if kind == "sqlite" {
		st, err := store.Open(ctx, "", filepath.Join(t.TempDir(), "anb.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return DB{Name: kind, Store: st}
	}
	dsn := NewPostgresDatabase(t)
	st, err := store.Open(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return DB{Name: kind, Store: st, DSN: dsn}
}

// NewPostgresDatabase creates an empty database on the test server and
// returns its URL; it is dropped at cleanup.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("ANB_TEST_DATABASE_URL")
	if admin == "" {
		t.Skip("PostgreSQL tests need ANB_TEST_DATABASE_URL (./scripts/test sets it)")
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("ANB_TEST_DATABASE_URL: %v", err)
	}
	raw := make([]byte, 6)
	rand.Read(raw)
	name := "anb_test_" + hex.EncodeToString(raw)
	db, err := gorm.Open(postgres.Open(admin), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	if err := db.Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := gorm.Open(postgres.Open(admin), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			return
		}
		sqlDB, _ := db.DB()
		defer sqlDB.Close()
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u.Path = "/" + name
	return u.String()
}
