// Package store keeps users, videos and votes in PostgreSQL (AWS) or SQLite
// (local mode) through GORM, with the same queries on both.
package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
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

// ErrUnavailable means the database could not be reached or did not answer
// in time: an outage, not a problem with the request.
var ErrUnavailable = errors.New("database unavailable")

// maxConnections bounds each process's PostgreSQL pool.
const maxConnections = 16

// Store is the database of the platform.
type Store struct {
	db      *gorm.DB
	dialect string        // "postgres" or "sqlite"
	timeout time.Duration // bound of each operation; 0 = none
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
		// At full size (3 web + 3 worker nodes) 6 x 16 = 96 connections
		// stay below the ~112 that the smallest RDS class (1 GiB) allows;
		// 16 is already more than 2 vCPUs keep busy.
		sqlDB.SetMaxOpenConns(maxConnections)
		sqlDB.SetMaxIdleConns(maxConnections)
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

// SetTimeout bounds every operation of the store, so that a database that
// does not answer costs a caller at most d and frees its connection.
func (s *Store) SetTimeout(d time.Duration) { s.timeout = d }

// budget is the database time a request has left.
type budget struct {
	mu      sync.Mutex
	left    time.Duration
	started bool
}

type budgetKey struct{}

// inOperation marks a context already bounded by an operation, so that an
// operation calling another is bounded (and charged) once.
type inOperation struct{}

// WithBudget makes every operation under ctx share one bound: together they
// wait at most the store's timeout (ANB_DB_TIMEOUT), so a request that needs
// several operations never waits several bounds. Time spent elsewhere (an
// upload to S3, hashing a password) is not charged.
func WithBudget(ctx context.Context) context.Context {
	return context.WithValue(ctx, budgetKey{}, &budget{})
}

// bound gives ctx the operation deadline: the store's timeout, or what is
// left of the request's budget.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 || ctx.Value(inOperation{}) != nil {
		return ctx, func() {}
	}
	b, ok := ctx.Value(budgetKey{}).(*budget)
	if !ok {
		return context.WithTimeout(ctx, s.timeout)
	}
	b.mu.Lock()
	if !b.started {
		b.left, b.started = s.timeout, true
	}
	left := b.left
	b.mu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, inOperation{}, true), left)
	return ctx, func() {
		cancel()
		b.mu.Lock()
		b.left -= time.Since(start)
		b.mu.Unlock()
	}
}

// unavailable tells a database outage (unreachable, cut, too slow, shutting
// down, out of connections) from any other failure.
func unavailable(err error) bool {
	var netErr net.Error
	var connErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.As(err, &netErr), errors.As(err, &connErr), pgconn.Timeout(err):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-03: server shutting down or
		// starting; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || slices.Contains([]string{"57P01", "57P02", "57P03", "53300"}, pgErr.Code)
	}
	// pgx reports a connection closed under it with a plain error.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY")
}

// wrap names the failed operation and marks outages with ErrUnavailable,
// so callers can answer "try again later" without knowing the driver.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrUnavailable) && unavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// markUnavailable marks an outage that surfaced outside any one statement
// (opening or committing a transaction) and leaves other errors as they are.
func markUnavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Dialect names the database engine: "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// Ping tells whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return wrap("ping", sqlDB.PingContext(ctx))
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
