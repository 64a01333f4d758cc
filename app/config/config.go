// Package config reads the ANB_* environment once at start and validates it,
// so a bad setting fails fast with a message that names the variable.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	ns "github.com/anb/risingstars/app/nodespec"
)

// Config is the whole runtime configuration of both binaries.
type Config struct {
	Addr    string // ANB_ADDR
	DataDir string // ANB_DATA_DIR: SQLite file, local blobs, spool files, generated secret

	DatabaseURL string // ANB_DATABASE_URL: empty means SQLite under DataDir
	DBSecretARN string // ANB_DB_SECRET_ARN: RDS-generated JSON secret
	// DBTimeout (ANB_DB_TIMEOUT, default 2s) bounds every database
	// operation, so an unreachable database answers 503 fast instead of
	// holding requests and connections.
	DBTimeout time.Duration

	JWTSecret    string        // ANB_JWT_SECRET
	JWTSecretARN string        // ANB_JWT_SECRET_ARN
	JWTTTL       time.Duration // ANB_JWT_TTL

	RankingsCacheTTL time.Duration // ANB_RANKINGS_CACHE_TTL
	Workers          int           // ANB_WORKERS

	Storage  string // ANB_STORAGE: disk | s3
	S3Bucket string // ANB_S3_BUCKET

	Queue       string // ANB_QUEUE: local | sqs
	SQSQueueURL string // ANB_SQS_QUEUE_URL
	// SQSDeadLetterURL (ANB_SQS_DLQ_URL) is the dead-letter queue: workers
	// send there the task of a video that failed for good, and mark failed
	// the video of every task the queue's redrive moved there.
	SQSDeadLetterURL string
	// SQSVisibility (ANB_SQS_VISIBILITY, default 2m) is how long a received
	// task stays hidden from other workers. Each receive asks for it
	// explicitly, so it holds whatever the queue's default is, and a running
	// job renews it every third of it: a worker that dies loses its task to
	// another worker within this time.
	SQSVisibility time.Duration
	// RetryBaseDelay (ANB_RETRY_BASE_DELAY, default 10s) is the wait before
	// the second attempt of a failed video; the third waits three times as long.
	RetryBaseDelay time.Duration
	// ShutdownGrace (ANB_SHUTDOWN_GRACE) is how long a stopping worker lets
	// the job in hand finish before releasing it to another worker.
	ShutdownGrace time.Duration
	// LifecycleHook (ANB_LIFECYCLE_HOOK) is the termination lifecycle hook of
	// the worker's Auto Scaling group; when set, the worker watches its
	// instance's lifecycle state, drains on scale-in and completes the hook.
	LifecycleHook string

	FFmpeg string // ANB_FFMPEG

	// CORSOrigins (ANB_CORS_ORIGINS, comma-separated) are the origins whose
	// pages may call the API; empty: same-origin only.
	CORSOrigins []string
	// Failed logins allowed per account and per client address within
	// LoginFailureWindow before logins answer 429 (ANB_LOGIN_FAILURES_*).
	LoginFailuresPerAccountAddress int
	LoginFailuresPerAddress        int
	LoginFailureWindow             time.Duration
	// LoginFailuresPerAccount (ANB_LOGIN_FAILURES_PER_ACCOUNT) is the far
	// higher count of an account's failures, from every address, above which
	// each address gets a single failure on it for the rest of the window.
	LoginFailuresPerAccount int
	// TrustedProxies (ANB_TRUSTED_PROXIES, comma-separated CIDRs or
	// addresses, default loopback) are the peers whose X-Forwarded-For
	// names the client.
	TrustedProxies []netip.Prefix

	// Signups allowed per client address and in all within SignupWindow
	// (ANB_SIGNUPS_PER_ADDRESS, ANB_SIGNUPS_TOTAL, ANB_SIGNUP_WINDOW).
	SignupsPerAddress int
	SignupsTotal      int
	SignupWindow      time.Duration

	// VoteCounting (ANB_VOTE_COUNTING): "all" counts every vote, "verified"
	// only those of accounts whose e-mail is verified.
	VoteCounting string
	// VoteAuditRetention (ANB_VOTE_AUDIT_RETENTION) is how long the hashed
	// address and user agent of a vote or signup are kept.
	VoteAuditRetention time.Duration

	// Mail (ANB_MAIL): outbox (files under DataDir/outbox), smtp or ses.
	Mail         string
	MailFrom     string // ANB_MAIL_FROM
	SMTPAddr     string // ANB_SMTP_ADDR host:port
	SMTPUsername string // ANB_SMTP_USERNAME
	SMTPPassword string // ANB_SMTP_PASSWORD
	// PublicURL (ANB_PUBLIC_URL) is the base of the links in e-mails;
	// empty: the address the request came to.
	PublicURL string
	// VerificationTTL (ANB_VERIFICATION_TTL) is how long a verification
	// link works; VerificationResends (ANB_VERIFICATION_RESENDS) how many
	// messages an account may ask for per hour.
	VerificationTTL     time.Duration
	VerificationResends int
}

// DefaultTrustedProxies is loopback: a local balancer (scripts/cluster)
// works out of the box, and no address on a network is believed by default.
const DefaultTrustedProxies = "127.0.0.0/8,::1/128"

// variables are every ANB_* variable the binaries read.
var variables = []string{
	ns.EnvAddr, ns.EnvDataDir, ns.EnvDatabaseURL, ns.EnvDBSecretARN, ns.EnvDBTimeout,
	ns.EnvJWTSecret, ns.EnvJWTSecretARN, ns.EnvJWTTTL, ns.EnvRankingsCacheTTL, ns.EnvWorkers,
	ns.EnvStorage, ns.EnvS3Bucket, ns.EnvQueue, ns.EnvSQSQueueURL, ns.EnvSQSDLQURL,
	ns.EnvSQSVisibility, ns.EnvRetryBaseDelay, ns.EnvShutdownGrace, ns.EnvLifecycleHook, ns.EnvFFmpeg,
	ns.EnvCORSOrigins, ns.EnvLoginFailuresPerAccount, ns.EnvLoginFailuresPerAddress, ns.EnvLoginFailureWindow,
	ns.EnvLoginFailuresPerAccountAddress, ns.EnvTrustedProxies,
	ns.EnvSignupsPerAddress, ns.EnvSignupsTotal, ns.EnvSignupWindow,
	ns.EnvVoteCounting, ns.EnvVoteAuditRetention,
	ns.EnvMail, ns.EnvMailFrom, ns.EnvSMTPAddr, ns.EnvSMTPUsername, ns.EnvSMTPPassword, ns.EnvPublicURL,
	ns.EnvVerificationTTL, ns.EnvVerificationResends,
}

// toolPrefixes name ANB_* variables that belong to the project's tools (CDK
// app, tests, local cluster), not to the binaries, and are left alone.
var toolPrefixes = []string{"ANB_CDK_", "ANB_TEST_", "ANB_CLUSTER_"}

// FromEnviron loads the configuration from a process environment
// (os.Environ()). Unlike Load it also refuses ANB_* variables the binaries
// do not know: a misspelt setting must stop the process, not be ignored.
func FromEnviron(environ []string) (Config, error) {
	vars := make(map[string]string, len(environ))
	var unknown []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		vars[name] = value
		if strings.HasPrefix(name, "ANB_") && !slices.Contains(variables, name) &&
			!slices.ContainsFunc(toolPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			unknown = append(unknown, name)
		}
	}
	c, err := Load(func(k string) string { return vars[k] })
	if len(unknown) > 0 {
		sort.Strings(unknown)
		err = errors.Join(fmt.Errorf("unknown variable %s (known: %s)", strings.Join(unknown, ", "), strings.Join(variables, ", ")), err)
	}
	return c, err
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
		Addr:         get(ns.EnvAddr, ":8080"),
		DataDir:      get(ns.EnvDataDir, "data"),
		DatabaseURL:  get(ns.EnvDatabaseURL, ""),
		DBSecretARN:  get(ns.EnvDBSecretARN, ""),
		JWTSecret:    get(ns.EnvJWTSecret, ""),
		JWTSecretARN: get(ns.EnvJWTSecretARN, ""),
		Storage:      get(ns.EnvStorage, "disk"),
		S3Bucket:     get(ns.EnvS3Bucket, ""),
		Queue:        get(ns.EnvQueue, "local"),
		SQSQueueURL:  get(ns.EnvSQSQueueURL, ""),
		FFmpeg:       get(ns.EnvFFmpeg, "ffmpeg"),

		SQSDeadLetterURL: get(ns.EnvSQSDLQURL, ""),
		LifecycleHook:    get(ns.EnvLifecycleHook, ""),
	}
	var errs []error
	duration := func(key, def string, min time.Duration) time.Duration {
		d, err := time.ParseDuration(get(key, def))
		if err != nil || d < min {
			errs = append(errs, fmt.Errorf("%s must be a Go duration of at least %s (e.g. %q), got %q", key, min, def, getenv(key)))
		}
		return d
	}
	c.JWTTTL = duration(ns.EnvJWTTTL, "1h", time.Minute)
	c.RankingsCacheTTL = duration(ns.EnvRankingsCacheTTL, "5s", 0)
	c.DBTimeout = duration(ns.EnvDBTimeout, "2s", 100*time.Millisecond)
	c.SQSVisibility = duration(ns.EnvSQSVisibility, ns.Visibility.String(), 3*time.Second)
	if c.SQSVisibility > 12*time.Hour {
		errs = append(errs, fmt.Errorf("%s must be at most 12h (the SQS limit), got %q", ns.EnvSQSVisibility, getenv(ns.EnvSQSVisibility)))
	}
	c.RetryBaseDelay = duration(ns.EnvRetryBaseDelay, ns.RetryBaseDelay.String(), 0)
	c.ShutdownGrace = duration(ns.EnvShutdownGrace, ns.ShutdownGrace.String(), 0)
	workers, err := strconv.Atoi(get(ns.EnvWorkers, "1"))
	if err != nil || workers < 0 || workers > 64 {
		errs = append(errs, fmt.Errorf("%s must be an integer from 0 to 64, got %q", ns.EnvWorkers, getenv(ns.EnvWorkers)))
	}
	c.Workers = workers
	for _, o := range strings.Split(get(ns.EnvCORSOrigins, ""), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if !validOrigin(o) {
			errs = append(errs, fmt.Errorf("%s must list origins as scheme://host[:port] (no path, no trailing slash) or *, got %q", ns.EnvCORSOrigins, o))
		}
		c.CORSOrigins = append(c.CORSOrigins, o)
	}
	count := func(key, def string, most int) int {
		n, err := strconv.Atoi(get(key, def))
		if err != nil || n < 1 || n > most {
			errs = append(errs, fmt.Errorf("%s must be an integer from 1 to %d, got %q", key, most, getenv(key)))
		}
		return n
	}
	c.LoginFailuresPerAccountAddress = count(ns.EnvLoginFailuresPerAccountAddress, "10", 10_000)
	c.LoginFailuresPerAddress = count(ns.EnvLoginFailuresPerAddress, "30", 10_000)
	c.LoginFailuresPerAccount = count(ns.EnvLoginFailuresPerAccount, "100", 1_000_000)
	c.LoginFailureWindow = duration(ns.EnvLoginFailureWindow, "15m", time.Second)
	for _, p := range strings.Split(get(ns.EnvTrustedProxies, DefaultTrustedProxies), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := parsePrefix(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s must list CIDRs (10.0.0.0/16) or addresses, got %q", ns.EnvTrustedProxies, p))
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix)
	}
	c.SignupsPerAddress = count(ns.EnvSignupsPerAddress, "10", 1_000_000)
	c.SignupsTotal = count(ns.EnvSignupsTotal, "1000", 1_000_000)
	c.SignupWindow = duration(ns.EnvSignupWindow, "1h", time.Second)
	c.VoteCounting = get(ns.EnvVoteCounting, "all")
	if c.VoteCounting != "all" && c.VoteCounting != "verified" {
		errs = append(errs, fmt.Errorf("%s must be all or verified, got %q", ns.EnvVoteCounting, c.VoteCounting))
	}
	c.VoteAuditRetention = duration(ns.EnvVoteAuditRetention, "2160h", time.Hour)
	c.MailFrom = get(ns.EnvMailFrom, "ANB Rising Stars <no-reply@anb.local>")
	c.SMTPAddr = get(ns.EnvSMTPAddr, "")
	c.SMTPUsername = get(ns.EnvSMTPUsername, "")
	c.SMTPPassword = get(ns.EnvSMTPPassword, "")
	c.Mail = get(ns.EnvMail, "outbox")
	if c.SMTPAddr != "" && getenv(ns.EnvMail) == "" {
		c.Mail = "smtp"
	}
	switch c.Mail {
	case "outbox":
	case "smtp":
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("%s must be host:port when %s=smtp, got %q", ns.EnvSMTPAddr, ns.EnvMail, c.SMTPAddr))
		}
	case "ses":
		if getenv(ns.EnvMailFrom) == "" {
			errs = append(errs, fmt.Errorf("%s (an address of a verified SES identity) is required when %s=ses", ns.EnvMailFrom, ns.EnvMail))
		}
	default:
		errs = append(errs, fmt.Errorf("%s must be outbox, smtp or ses, got %q", ns.EnvMail, c.Mail))
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		errs = append(errs, fmt.Errorf("%s must be an e-mail address (optionally \"Name <addr>\"), got %q", ns.EnvMailFrom, c.MailFrom))
	}
	c.PublicURL = strings.TrimSuffix(get(ns.EnvPublicURL, ""), "/")
	if c.PublicURL != "" && !validOrigin(c.PublicURL) {
		errs = append(errs, fmt.Errorf("%s must be scheme://host[:port], got %q", ns.EnvPublicURL, c.PublicURL))
	}
	c.VerificationTTL = duration(ns.EnvVerificationTTL, "48h", time.Minute)
	c.VerificationResends = count(ns.EnvVerificationResends, "3", 100)

	switch c.Storage {
	case "disk":
	case "s3":
		if c.S3Bucket == "" {
			errs = append(errs, fmt.Errorf("%s is required when %s=s3", ns.EnvS3Bucket, ns.EnvStorage))
		}
	default:
		errs = append(errs, fmt.Errorf("%s must be disk or s3, got %q", ns.EnvStorage, c.Storage))
	}
	switch c.Queue {
	case "local":
	case "sqs":
		if c.SQSQueueURL == "" {
			errs = append(errs, fmt.Errorf("%s is required when %s=sqs", ns.EnvSQSQueueURL, ns.EnvQueue))
		}
	default:
		errs = append(errs, fmt.Errorf("%s must be local or sqs, got %q", ns.EnvQueue, c.Queue))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, fmt.Errorf("%s must be a postgres:// URL (leave it empty for the embedded SQLite database)", ns.EnvDatabaseURL))
	}
	if c.DatabaseURL != "" && c.DBSecretARN != "" {
		errs = append(errs, fmt.Errorf("set only one of %s and %s", ns.EnvDatabaseURL, ns.EnvDBSecretARN))
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, fmt.Errorf("%s must be at least 32 characters", ns.EnvJWTSecret))
	}
	if c.SQSDeadLetterURL != "" && c.Queue != "sqs" {
		errs = append(errs, fmt.Errorf("%s needs %s=sqs", ns.EnvSQSDLQURL, ns.EnvQueue))
	}
	return c, errors.Join(errs...)
}

// validOrigin tells whether s is an origin as browsers send it in the
// Origin header (scheme://host[:port]), or "*".
func validOrigin(s string) bool {
	if s == "*" {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && s == u.Scheme+"://"+u.Host
}

// parsePrefix reads a CIDR, or one address as a CIDR of its own.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}

// LocalQueue tells whether tasks travel through the in-process queue, which
// only workers inside the API process can consume.
func (c Config) LocalQueue() bool { return c.Queue == "local" }
