// Package store keeps users, videos and votes in PostgreSQL (AWS) or SQLite
// (local mode) through GORM, with the same queries on both.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Domain errors; the HTTP layer maps them to status codes in one place.
var (
	ErrNotFound       = errors.New("not found")
	ErrDuplicateEmail = errors.New("email already registered")
	ErrAlreadyVoted   = errors.New("already voted")
	ErrPublished      = errors.New("video already published for voting")
	ErrForbidden      = errors.New("video belongs to another user")
)

// Video statuses, as the API shows them.
const (
	StatusUploaded   = "uploaded"
	StatusProcessing = "processing"
	StatusProcessed  = "processed"
	StatusFailed     = "failed"
)

// Store is the database of the platform.
type Store struct {
	db      *gorm.DB
	dialect string // "postgres" or "sqlite"
}

// Open connects to PostgreSQL when dsn is a postgres URL, otherwise to the
// SQLite file at sqlitePath, and applies pending migrations.
func Open(ctx context.Context, dsn, sqlitePath string) (*Store, error) {
	cfg := &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true}
	var (
		db      *gorm.DB
		dialect string
		err     error
	)
	if dsn != "" {
		dialect = "postgres"
		db, err = gorm.Open(postgres.Open(dsn), cfg)
	} else {
		dialect = "sqlite"
		if err := os.MkdirAll(filepath.Dir(sqlitePath), 0o755); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		// WAL lets readers run beside the single writer; busy_timeout makes the
		// writer wait instead of failing when another statement holds the lock.
		db, err = gorm.Open(sqlite.Open("file:"+sqlitePath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if dialect == "sqlite" {
		// SQLite allows one writer; one connection avoids "database is locked".
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(32)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	s := &Store{db: db, dialect: dialect}
	if err := s.Ping(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	if err := s.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// Dialect names the database engine: "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// Ping tells whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close releases the connections.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
