// Package config reads the ANB_* environment once at start and validates it,
// so a bad setting fails fast with a message that names the variable.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is the whole runtime configuration of both binaries.
type Config struct {
	Addr    string // ANB_ADDR
	DataDir string // ANB_DATA_DIR: SQLite file, local blobs, spool files, generated secret

	DatabaseURL string // ANB_DATABASE_URL: empty means SQLite under DataDir
	DBSecretARN string // ANB_DB_SECRET_ARN: RDS-generated JSON secret

	JWTSecret    string        // ANB_JWT_SECRET
	JWTSecretARN string        // ANB_JWT_SECRET_ARN
	JWTTTL       time.Duration // ANB_JWT_TTL

	RankingsCacheTTL time.Duration // ANB_RANKINGS_CACHE_TTL
	Workers          int           // ANB_WORKERS

	Storage  string // ANB_STORAGE: disk | s3
	S3Bucket string // ANB_S3_BUCKET

	Queue       string // ANB_QUEUE: local | sqs
	SQSQueueURL string // ANB_SQS_QUEUE_URL
	// SQSVisibility (ANB_SQS_VISIBILITY, default 2m) is how long a received
	// task stays hidden from other workers. Each receive asks for it
	// explicitly, so it holds whatever the queue's default is, and a running
	// job renews it every third of it: a worker that dies loses its task to
	// another worker within this time.
	SQSVisibility time.Duration
	// RetryBaseDelay (ANB_RETRY_BASE_DELAY, default 10s) is the wait before
	// the second attempt of a failed video; the third waits three times as long.
	RetryBaseDelay time.Duration

	FFmpeg string // ANB_FFMPEG
}

// Load reads the environment through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	get := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Addr:         get("ANB_ADDR", ":8080"),
		DataDir:      get("ANB_DATA_DIR", "data"),
		DatabaseURL:  get("ANB_DATABASE_URL", ""),
		DBSecretARN:  get("ANB_DB_SECRET_ARN", ""),
		JWTSecret:    get("ANB_JWT_SECRET", ""),
		JWTSecretARN: get("ANB_JWT_SECRET_ARN", ""),
		Storage:      get("ANB_STORAGE", "disk"),
		S3Bucket:     get("ANB_S3_BUCKET", ""),
		Queue:        get("ANB_QUEUE", "local"),
		SQSQueueURL:  get("ANB_SQS_QUEUE_URL", ""),
		FFmpeg:       get("ANB_FFMPEG", "ffmpeg"),
	}
	var errs []error
	duration := func(key, def string, min time.Duration) time.Duration {
		d, err := time.ParseDuration(get(key, def))
		if err != nil || d < min {
			errs = append(errs, fmt.Errorf("%s must be a Go duration of at least %s (e.g. %q), got %q", key, min, def, getenv(key)))
		}
		return d
	}
	c.JWTTTL = duration("ANB_JWT_TTL", "1h", time.Minute)
	c.RankingsCacheTTL = duration("ANB_RANKINGS_CACHE_TTL", "5s", 0)
	c.SQSVisibility = duration("ANB_SQS_VISIBILITY", "2m", 3*time.Second)
	if c.SQSVisibility > 12*time.Hour {
		errs = append(errs, fmt.Errorf("ANB_SQS_VISIBILITY must be at most 12h (the SQS limit), got %q", getenv("ANB_SQS_VISIBILITY")))
	}
	c.RetryBaseDelay = duration("ANB_RETRY_BASE_DELAY", "10s", 0)
	workers, err := strconv.Atoi(get("ANB_WORKERS", "1"))
	if err != nil || workers < 0 || workers > 64 {
		errs = append(errs, fmt.Errorf("ANB_WORKERS must be an integer from 0 to 64, got %q", getenv("ANB_WORKERS")))
	}
	c.Workers = workers

	switch c.Storage {
	case "disk":
	case "s3":
		if c.S3Bucket == "" {
			errs = append(errs, errors.New("ANB_S3_BUCKET is required when ANB_STORAGE=s3"))
		}
	default:
		errs = append(errs, fmt.Errorf("ANB_STORAGE must be disk or s3, got %q", c.Storage))
	}
	switch c.Queue {
	case "local":
	case "sqs":
		if c.SQSQueueURL == "" {
			errs = append(errs, errors.New("ANB_SQS_QUEUE_URL is required when ANB_QUEUE=sqs"))
		}
	default:
		errs = append(errs, fmt.Errorf("ANB_QUEUE must be local or sqs, got %q", c.Queue))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("ANB_DATABASE_URL must be a postgres:// URL (leave it empty for the embedded SQLite database)"))
	}
	if c.DatabaseURL != "" && c.DBSecretARN != "" {
		errs = append(errs, errors.New("set only one of ANB_DATABASE_URL and ANB_DB_SECRET_ARN"))
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("ANB_JWT_SECRET must be at least 32 characters"))
	}
	return c, errors.Join(errs...)
}

// LocalQueue tells whether tasks travel through the in-process queue, which
// only workers inside the API process can consume.
func (c Config) LocalQueue() bool { return c.Queue == "local" }
