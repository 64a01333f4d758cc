// Package platform builds, from the configuration, the dependencies both
// binaries share: database, blob storage, queue and token signer.
package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/config"
	"github.com/anb/risingstars/app/mail"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/secrets"
	"github.com/anb/risingstars/app/store"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Queue both sends and receives tasks.
type Queue interface {
	queue.Publisher
	queue.Consumer
}

// Platform is the set of live dependencies.
type Platform struct {
	Config   config.Config
	Store    *store.Store
	Blobs    blob.Store
	Queue    Queue
	Tokens   *auth.Tokens
	SpoolDir string // uploads being validated
	WorkDir  string // worker scratch space
	// AWS is the SDK configuration the AWS services were built from (zero in
	// local mode), for the clients a binary adds of its own.
	AWS aws.Config
	// Mailer sends the platform's e-mail: SES, SMTP or the local outbox
	// folder (DataDir/outbox), as ANB_MAIL says.
	Mailer interface {
		Send(ctx context.Context, m mail.Message) error
	}
}

// Open connects everything the configuration names. The AWS services
// (Secrets Manager, S3, SQS) use the SDK's standard configuration: region,
// credentials (the instance role on AWS) and AWS_ENDPOINT_URL_<SERVICE> for
// stand-ins.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Platform, error) {
	p := &Platform{Config: cfg, SpoolDir: filepath.Join(cfg.DataDir, "spool"), WorkDir: filepath.Join(cfg.DataDir, "work")}
	for _, dir := range []string{p.SpoolDir, p.WorkDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	var awsCfg aws.Config
	if cfg.Storage == "s3" || cfg.Queue == "sqs" || cfg.DBSecretARN != "" || cfg.JWTSecretARN != "" || cfg.Mail == "ses" {
		var err error
		if awsCfg, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
	}
	p.AWS = awsCfg
	switch cfg.Mail {
	case "ses":
		p.Mailer = mail.NewSES(awsCfg, cfg.MailFrom)
	case "smtp":
		p.Mailer = mail.SMTP{Addr: cfg.SMTPAddr, From: cfg.MailFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword}
	default:
		p.Mailer = mail.Outbox{Dir: filepath.Join(cfg.DataDir, "outbox"), From: cfg.MailFrom}
	}
	sm := secrets.NewFromConfig(awsCfg)

	secret, err := jwtSecret(ctx, cfg, sm)
	if err != nil {
		return nil, err
	}
	p.Tokens = auth.NewTokens(secret, cfg.JWTTTL)

	dsn, err := databaseURL(ctx, cfg, sm)
	if err != nil {
		return nil, err
	}
	if db, jwt := cfg.DBSecretARN != "", cfg.JWTSecretARN != "" && cfg.JWTSecret == ""; db || jwt {
		log.Info("secrets read from Secrets Manager", "database", db, "jwt", jwt)
	}
	if p.Store, err = store.Open(ctx, dsn, filepath.Join(cfg.DataDir, "anb.db")); err != nil {
		return nil, err
	}
	p.Store.SetTimeout(cfg.DBTimeout)
	log.Info("database ready", "dialect", p.Store.Dialect())

	switch cfg.Storage {
	case "disk":
		p.Blobs, err = blob.NewDisk(filepath.Join(cfg.DataDir, "blobs"))
	case "s3":
		p.Blobs = blob.NewS3(awsCfg, cfg.S3Bucket)
	default:
		err = fmt.Errorf("ANB_STORAGE=%s is not available in this build", cfg.Storage)
	}
	if err != nil {
		p.Close()
		return nil, err
	}

	switch cfg.Queue {
	case "local":
		p.Queue = queue.NewLocal()
	case "sqs":
		p.Queue = queue.NewSQS(sqs.NewFromConfig(awsCfg), cfg.SQSQueueURL, cfg.SQSDeadLetterURL, cfg.SQSVisibility)
	default:
		err = fmt.Errorf("ANB_QUEUE=%s is not available in this build", cfg.Queue)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Close releases the database.
func (p *Platform) Close() {
	if p.Store != nil {
		p.Store.Close()
	}
}

// databaseURL comes from ANB_DATABASE_URL or the RDS secret named by
// ANB_DB_SECRET_ARN; empty means the embedded SQLite database.
func databaseURL(ctx context.Context, cfg config.Config, sm *secrets.Manager) (string, error) {
	if cfg.DBSecretARN != "" {
		dsn, err := sm.DatabaseURL(ctx, cfg.DBSecretARN)
		if err != nil {
			return "", fmt.Errorf("ANB_DB_SECRET_ARN: %w", err)
		}
		return dsn, nil
	}
	return cfg.DatabaseURL, nil
}

// jwtSecret comes from ANB_JWT_SECRET, from the secret named by
// ANB_JWT_SECRET_ARN (every web node reads the same one) or, in local mode,
// from a random secret generated once and kept in the data directory so
// tokens survive restarts.
func jwtSecret(ctx context.Context, cfg config.Config, sm *secrets.Manager) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	if cfg.JWTSecretARN != "" {
		key, err := sm.JWTKey(ctx, cfg.JWTSecretARN)
		if err != nil {
			return nil, fmt.Errorf("ANB_JWT_SECRET_ARN: %w", err)
		}
		return []byte(key), nil
	}
	path := filepath.Join(cfg.DataDir, "jwt-secret")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return []byte(secret), nil
}

// RequeuePending sends again the task of every video the database shows as
// waiting. The in-process queue is empty after a restart; this refills it.
func (p *Platform) RequeuePending(ctx context.Context) (int, error) {
	videos, err := p.Store.PendingVideos(ctx)
	if err != nil {
		return 0, err
	}
	for _, v := range videos {
		if err := p.Queue.Publish(ctx, queue.Task{TaskID: v.TaskID, VideoID: v.ID}); err != nil {
			return 0, err
		}
	}
	return len(videos), nil
}

// RequeueLost periodically sends the tasks that never reached the queue
// because an API process died between saving a video and sending its task.
func (p *Platform) RequeueLost(ctx context.Context, log *slog.Logger, every, grace time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		videos, err := p.Store.UnenqueuedVideos(ctx, grace)
		if err != nil {
			log.Error("look for unenqueued videos failed", "error", err)
			continue
		}
		for _, v := range videos {
			if err := p.Queue.Publish(ctx, queue.Task{TaskID: v.TaskID, VideoID: v.ID}); err != nil {
				log.Error("re-enqueue failed", "video_id", v.ID, "error", err)
				continue
			}
			if err := p.Store.MarkEnqueued(ctx, v.ID); err != nil {
				log.Error("mark enqueued failed", "video_id", v.ID, "error", err)
			}
			log.Warn("task re-enqueued", "video_id", v.ID)
		}
	}
}
