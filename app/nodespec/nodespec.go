// Package nodespec is what the AWS infrastructure (constructs/) and the two
// binaries must agree on about a node: the port and health paths the load
// balancer probes, the ANB_* environment of each tier, the processing attempt
// limit, the queue timings and the log line the processing-time metric reads.
//
// It is the one definition of these facts. It imports only the standard
// library, so the CDK constructs, the binaries and the local AWS topology
// (scripts/cluster) can all depend on it without depending on each other.
package nodespec

import (
	"strconv"
	"time"
)

// The web tier's HTTP surface as the load balancer sees it.
const (
	// Port is where a web node listens.
	Port = 8080
	// LivenessPath answers 200 while the process serves HTTP, whatever the
	// state of the database: the load balancer and the Auto Scaling group
	// probe it, so a database failover never replaces a node.
	LivenessPath = "/health"
	// ReadinessPath answers 200 only when the database answers too (deep
	// check, for operators and the boot script), 503 otherwise.
	ReadinessPath = "/health/ready"
)

// Processing and queue facts shared by the worker, the queue and its alarms.
const (
	// MaxProcessingAttempts is how many real processing failures, counted in
	// the database, a video gets before it is marked failed and its task
	// dead-lettered. Interruptions (shutdown, scale-in, a killed worker) are
	// not failures and never count.
	MaxProcessingAttempts = 3
	// QueueMaxReceiveCount is the queue's redrive limit: a backstop against
	// crash loops (a task that kills its worker on every try comes back once
	// per Visibility, so it is dead-lettered after about 40 minutes). A task
	// otherwise uses 1 receive, 2 more for real failures
	// (MaxProcessingAttempts), 1 per interruption, and at most 1 per worker
	// per outage whatever its length (a worker that met an outage receives
	// nothing until the dependency answers): 20 leaves 17 for interruptions
	// and outages, far more than any task meets.
	QueueMaxReceiveCount = 20
	// Visibility is how long a received task stays hidden from other
	// workers; a running job renews it every third of it, so a task of a
	// worker that died is visible again within this time.
	Visibility = 2 * time.Minute
	// LongPollSeconds is how long one receive waits for a task (the SQS
	// maximum): an idle worker costs one request every 20 s.
	LongPollSeconds = 20
	// RetryBaseDelay is the wait before the second attempt of a failed video;
	// each next attempt waits three times longer.
	RetryBaseDelay = 10 * time.Second
	// ShutdownGrace is how long a worker told to stop (SIGTERM, scale-in)
	// lets the job in hand finish before releasing it to another worker.
	ShutdownGrace = 2 * time.Minute
	// WebShutdownGrace is how long a stopping web node lets the requests in
	// hand finish. The load balancer drained the node before it is stopped,
	// so only the last few are left.
	WebShutdownGrace = 30 * time.Second
	// LifecycleHookName is the termination lifecycle hook of the worker
	// group: a worker that sees its instance leaving drains and then
	// completes this hook.
	LifecycleHookName = "anb-worker-drain"
	// LifecycleHookTimeout bounds how long a terminating worker may drain.
	LifecycleHookTimeout = ShutdownGrace + 3*time.Minute
)

// The JSON log line a worker writes for each processed video; the
// ProcessingTime metric filter of the worker log group reads it.
const (
	ProcessedLogMessage = "video processed"
	ProcessedSeconds    = "seconds" // field: processing time of the video
)

// DataDir is where a node on AWS keeps its spool and scratch files (the
// systemd unit's StateDirectory).
const DataDir = "/var/lib/anb"

// FFmpeg is the ffmpeg a worker node runs (Debian/Ubuntu package).
const FFmpeg = "/usr/bin/ffmpeg"

// The environment variables the binaries read.
const (
	EnvAddr             = "ANB_ADDR"
	EnvDataDir          = "ANB_DATA_DIR"
	EnvDatabaseURL      = "ANB_DATABASE_URL"
	EnvDBSecretARN      = "ANB_DB_SECRET_ARN"
	EnvDBTimeout        = "ANB_DB_TIMEOUT"
	EnvJWTSecret        = "ANB_JWT_SECRET"
	EnvJWTSecretARN     = "ANB_JWT_SECRET_ARN"
	EnvJWTTTL           = "ANB_JWT_TTL"
	EnvRankingsCacheTTL = "ANB_RANKINGS_CACHE_TTL"
	EnvWorkers          = "ANB_WORKERS"
	EnvStorage          = "ANB_STORAGE"
	EnvS3Bucket         = "ANB_S3_BUCKET"
	EnvQueue            = "ANB_QUEUE"
	EnvSQSQueueURL      = "ANB_SQS_QUEUE_URL"
	EnvSQSDLQURL        = "ANB_SQS_DLQ_URL"
	EnvSQSVisibility    = "ANB_SQS_VISIBILITY"
	EnvRetryBaseDelay   = "ANB_RETRY_BASE_DELAY"
	EnvShutdownGrace    = "ANB_SHUTDOWN_GRACE"
	EnvLifecycleHook    = "ANB_LIFECYCLE_HOOK"
	EnvFFmpeg           = "ANB_FFMPEG"
	// The HTTP edge of the API (web nodes).
	EnvCORSOrigins             = "ANB_CORS_ORIGINS"
	EnvLoginFailuresPerAccount = "ANB_LOGIN_FAILURES_PER_ACCOUNT"
	EnvLoginFailuresPerAddress = "ANB_LOGIN_FAILURES_PER_ADDRESS"
	EnvLoginFailureWindow      = "ANB_LOGIN_FAILURE_WINDOW"
	// EnvLoginFailuresPerAccountAddress bounds the failures of one account
	// from one client address; EnvLoginFailuresPerAccount is the far higher
	// count, from every address, above which each address gets one failure.
	EnvLoginFailuresPerAccountAddress = "ANB_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS"
	// EnvTrustedProxies lists the CIDRs of the proxies whose X-Forwarded-For
	// is believed (on AWS: the VPC range, where the load balancer's nodes are).
	EnvTrustedProxies = "ANB_TRUSTED_PROXIES"
	// Signups allowed per client address and in all per window.
	EnvSignupsPerAddress = "ANB_SIGNUPS_PER_ADDRESS"
	EnvSignupsTotal      = "ANB_SIGNUPS_TOTAL"
	EnvSignupWindow      = "ANB_SIGNUP_WINDOW"
	// Vote integrity: which votes count, how long their audit data is kept.
	EnvVoteCounting       = "ANB_VOTE_COUNTING"
	EnvVoteAuditRetention = "ANB_VOTE_AUDIT_RETENTION"
	// E-mail verification: how mail is sent, the site the links point at.
	EnvMail                = "ANB_MAIL"
	EnvMailFrom            = "ANB_MAIL_FROM"
	EnvSMTPAddr            = "ANB_SMTP_ADDR"
	EnvSMTPUsername        = "ANB_SMTP_USERNAME"
	EnvSMTPPassword        = "ANB_SMTP_PASSWORD"
	EnvPublicURL           = "ANB_PUBLIC_URL"
	EnvVerificationTTL     = "ANB_VERIFICATION_TTL"
	EnvVerificationResends = "ANB_VERIFICATION_RESENDS"
	// EnvRegion is the AWS SDK's own variable, not one of ours.
	EnvRegion = "AWS_REGION"
)

// Var is one environment variable of a node.
type Var struct{ Name, Value string }

// Resources are what a node points at. On AWS the values are CloudFormation
// tokens rendered into the user data; in scripts/cluster they are the
// stand-ins' names.
type Resources struct {
	Region        string
	Bucket        string
	QueueURL      string
	DeadLetterURL string
	DBSecretARN   string
	JWTSecretARN  string
	DataDir       string // default DataDir
	Port          int    // web nodes; default Port
	LifecycleHook string // workers; empty when not in an Auto Scaling group

	// The web tier's vote-integrity settings; each is left out of WebEnv
	// when empty, and the binary then uses its local default.

	// TrustedProxies is the CIDR list (comma-separated) whose peers'
	// X-Forwarded-For is believed: on AWS the VPC range. Empty: loopback
	// only, which on AWS counts every client as the load balancer's address.
	TrustedProxies string
	// MailFrom is the sender address of an SES identity the web role may
	// send from; set, the web nodes send verification mail through SES.
	MailFrom string
	// PublicURL is the site's address (https://host), the base of the
	// verification links.
	PublicURL string
	// VoteCounting is "all" or "verified" (stack context).
	VoteCounting string
}

func (r Resources) dataDir() string {
	if r.DataDir != "" {
		return r.DataDir
	}
	return DataDir
}

// WebEnv is the environment of a web node: the API only (no in-process
// workers), files in S3, tasks sent to SQS, secrets from Secrets Manager.
func WebEnv(r Resources) []Var {
	port := r.Port
	if port == 0 {
		port = Port
	}
	env := []Var{
		{EnvAddr, ":" + strconv.Itoa(port)},
		{EnvDataDir, r.dataDir()},
		{EnvWorkers, "0"},
		{EnvStorage, "s3"},
		{EnvS3Bucket, r.Bucket},
		{EnvQueue, "sqs"},
		{EnvSQSQueueURL, r.QueueURL},
		{EnvDBSecretARN, r.DBSecretARN},
		{EnvJWTSecretARN, r.JWTSecretARN},
		{EnvRegion, r.Region},
	}
	if r.MailFrom != "" {
		env = append(env, Var{EnvMail, "ses"}, Var{EnvMailFrom, r.MailFrom})
	}
	for _, v := range []Var{{EnvTrustedProxies, r.TrustedProxies}, {EnvPublicURL, r.PublicURL}, {EnvVoteCounting, r.VoteCounting}} {
		if v.Value != "" {
			env = append(env, v)
		}
	}
	return env
}

// WorkerEnv is the environment of a worker node: one job at a time (ffmpeg
// already uses every vCPU, and the backlog target assumes it), consuming SQS
// and sweeping its dead-letter queue, draining on scale-in.
func WorkerEnv(r Resources) []Var {
	env := []Var{
		{EnvDataDir, r.dataDir()},
		{EnvWorkers, "1"},
		{EnvFFmpeg, FFmpeg},
		{EnvStorage, "s3"},
		{EnvS3Bucket, r.Bucket},
		{EnvQueue, "sqs"},
		{EnvSQSQueueURL, r.QueueURL},
		{EnvSQSDLQURL, r.DeadLetterURL},
		{EnvDBSecretARN, r.DBSecretARN},
		{EnvRegion, r.Region},
	}
	if r.LifecycleHook != "" {
		env = append(env, Var{EnvLifecycleHook, r.LifecycleHook})
	}
	return env
}

// Environ renders vars as NAME=value strings, as exec.Cmd.Env and systemd
// EnvironmentFile lines take them.
func Environ(vars []Var) []string {
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.Name + "=" + v.Value
	}
	return out
}
