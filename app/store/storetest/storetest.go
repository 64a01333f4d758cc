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
	"strings"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/anb/risingstars/app/store"
	"github.com/rs/zerolog"
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

// Link is a fault injector (Toxiproxy, in process) between a store and its
// PostgreSQL server, for tests of what users see during an outage.
type Link struct{ proxy *toxiproxy.Proxy }

// OpenPostgresBehindLink makes a new PostgreSQL database whose store reaches
// the server only through the returned Link.
func OpenPostgresBehindLink(t testing.TB) (DB, *Link) {
	t.Helper()
	dsn := NewPostgresDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	proxy := toxiproxy.NewProxy(server, "postgresql", "127.0.0.1:0", u.Host)
	if err := server.Collection.Add(proxy, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Collection.Clear() })
	u.Host = proxy.Listen
	st, err := store.Open(context.Background(), u.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return DB{Name: "postgres", Store: st, DSN: u.String()}, &Link{proxy: proxy}
}

// Cut closes the open connections and refuses new ones, as an outage or a
// failover does.
func (l *Link) Cut() { l.proxy.Stop() }

// Hang keeps connections open but lets nothing through, as a network that
// drops packets does: only a deadline ends a query.
func (l *Link) Hang(t testing.TB) {
	t.Helper()
	if _, err := l.proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"hang","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`)); err != nil {
		t.Fatal(err)
	}
}

// Restore ends every fault.
func (l *Link) Restore(t testing.TB) {
	t.Helper()
	l.proxy.Toxics.ResetToxics(context.Background())
	if err := l.proxy.Start(); err != nil && err != toxiproxy.ErrProxyAlreadyStarted {
		t.Fatal(err)
	}
}
