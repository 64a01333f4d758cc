//go:build linux

// Command cluster runs the AWS topology of ANB Rising Stars on this machine:
// PostgreSQL (a fresh database on the local server), S3 (gofakes3 on disk),
// SQS (local-aws-sqs, a task queue with its dead-letter queue), a Secrets
// Manager stand-in, two web nodes behind a load balancer and two workers,
// each configured as on AWS (nodespec.WebEnv and nodespec.WorkerEnv, the
// functions the CDK constructs render into the instances' user data) with
// the stand-ins as resources and endpoints through AWS_ENDPOINT_URL_*. The
// nodes reach PostgreSQL, S3 and SQS through a fault injector (Toxiproxy).
// It runs until Ctrl-C, then stops everything it started.
//
// Start it with ./scripts/cluster/run, which installs what it needs first.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/anb/risingstars/app/nodespec"
)

func main() {
	var opt Options
	flag.IntVar(&opt.Port, "port", envInt("ANB_CLUSTER_PORT", 8080), "port of the load balancer (env ANB_CLUSTER_PORT)")
	flag.IntVar(&opt.WebPort, "web-port", 0, "port of the first web node, the next ones follow (0: free ports)")
	flag.IntVar(&opt.S3Port, "s3-port", 0, "port of the S3 server (0: a free port)")
	flag.IntVar(&opt.SQSPort, "sqs-port", 0, "port of the SQS server (0: a free port)")
	flag.IntVar(&opt.SecretsPort, "secrets-port", 0, "port of the Secrets Manager stand-in (0: a free port)")
	flag.IntVar(&opt.Webs, "webs", 2, "web nodes")
	flag.IntVar(&opt.Workers, "workers", 2, "workers")
	flag.DurationVar(&opt.Speed.Visibility, "visibility", nodespec.Visibility, "SQS visibility timeout of a task ("+nodespec.EnvSQSVisibility+")")
	flag.DurationVar(&opt.Speed.RetryBaseDelay, "retry-base-delay", nodespec.RetryBaseDelay, "wait before retrying a failed video ("+nodespec.EnvRetryBaseDelay+")")
	flag.DurationVar(&opt.Speed.ShutdownGrace, "shutdown-grace", nodespec.ShutdownGrace, "how long a stopping worker lets its job finish ("+nodespec.EnvShutdownGrace+")")
	flag.StringVar(&opt.AdminDatabaseURL, "admin-db", envOr("ANB_TEST_DATABASE_URL", "postgres://anb:anb@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL URL of a role that may create databases (env ANB_TEST_DATABASE_URL)")
	dir := flag.String("dir", "", "run directory for binaries, data and logs (default data/cluster/TIMESTAMP)")
	flag.Parse()

	root, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		fail(fmt.Errorf("run this from the repository root (./scripts/cluster/run does)"))
	}
	opt.Root = root
	opt.RunDir = *dir
	if opt.RunDir == "" {
		opt.RunDir = filepath.Join(root, "data", "cluster", time.Now().Format("20060102-150405"))
	}
	opt.Progress = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := Start(ctx, opt)
	if err != nil {
		fail(err)
	}
	fmt.Printf(`
ANB Rising Stars, AWS topology on this machine:
  site (load balancer)  %s
  web nodes             %v
  workers               %d
  S3 (gofakes3)         %s  bucket %s
  SQS (local-aws-sqs)   %s
    queue               %s
    dead-letter queue   %s
  Secrets Manager       %s
  PostgreSQL            %s
  the nodes reach S3, SQS and PostgreSQL through Toxiproxy at %s, %s and %s
  logs                  %s
Ctrl-C stops everything.
`, c.URL, c.webAddrs, opt.Workers, c.S3Endpoint, c.Bucket, c.SQSEndpoint, c.QueueURL, c.DLQURL,
		c.SecretsEndpoint, redact(c.DatabaseURL), c.NodeS3Endpoint, c.NodeSQSEndpoint, c.NodeDatabase,
		filepath.Join(opt.RunDir, "logs"))

	// A process of the cluster that dies is reported, not restarted: the
	// load balancer and the queue show how the rest carries on.
	for _, p := range append(append(c.Procs("web"), c.Procs("worker")...), c.Proc("lb"), c.Proc("s3")) {
		go func() {
			<-p.done
			if ctx.Err() == nil {
				fmt.Printf("!!  %s (pid %d) exited: %v; see %s\n", p.Name, p.Pid(), p.err, p.Log)
			}
		}()
	}
	<-ctx.Done()
	stop()
	fmt.Println("\n==> stopping: load balancer, web nodes (draining), workers (finishing or releasing their jobs), services")
	c.Stop()
	fmt.Println("==> stopped; logs kept in", filepath.Join(opt.RunDir, "logs"))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(key), &n); err == nil {
		return n
	}
	return def
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cluster:", err)
	os.Exit(1)
}
