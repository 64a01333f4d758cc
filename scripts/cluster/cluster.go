//go:build linux

package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/queue/sqstest"
	"github.com/anb/risingstars/app/secrets/secretstest"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5"
)

// Options describe a cluster. Zero ports pick free ones.
type Options struct {
	Root   string // the module root: binaries are built from it, tools found in its .tools
	RunDir string // binaries, data and one log per process

	Port        int // the load balancer
	WebPort     int // the first web node; the next ones follow
	S3Port      int
	SQSPort     int
	SecretsPort int

	// Webs and Workers count the nodes started with the cluster (0: 2 of
	// each); Workers < 0 starts none, for an autoscaler to start them.
	Webs, Workers int

	// Speed holds the settings in which the cluster departs from the AWS
	// nodes' configuration, to run faster; zero keeps the AWS value.
	Speed Speed
	// AdminDatabaseURL reaches a PostgreSQL role allowed to create
	// databases; the cluster makes a fresh database and drops it at Stop.
	AdminDatabaseURL string
	// Env is added to the environment of the web nodes and workers.
	Env []nodespec.Var
	// Progress receives one line per step.
	Progress io.Writer
}

// Speed is what the cluster may shorten in the workers' configuration
// (nodespec.WorkerEnv leaves each to the binaries' defaults, the nodespec
// values): Visibility is the SQS lease of a task (also the queue's
// VisibilityTimeout), RetryBaseDelay the wait before a failed video's next
// attempt, ShutdownGrace how long a stopping worker lets its job finish.
// Zero, or the AWS value, keeps the AWS value.
type Speed struct {
	Visibility, RetryBaseDelay, ShutdownGrace time.Duration
}

// vars lists the settings that differ from the AWS values.
func (s Speed) vars() []nodespec.Var {
	var out []nodespec.Var
	for _, v := range []struct {
		name     string
		d, onAWS time.Duration
	}{
		{nodespec.EnvSQSVisibility, s.Visibility, nodespec.Visibility},
		{nodespec.EnvRetryBaseDelay, s.RetryBaseDelay, nodespec.RetryBaseDelay},
		{nodespec.EnvShutdownGrace, s.ShutdownGrace, nodespec.ShutdownGrace},
	} {
		if v.d != 0 && v.d != v.onAWS {
			out = append(out, nodespec.Var{Name: v.name, Value: v.d.String()})
		}
	}
	return out
}

// Names of the AWS resources the stand-ins hold.
const (
	bucket    = "anb-media"
	queueName = "anb-tasks"
	region    = "us-east-1"
)

// Cluster is the AWS topology on loopback: PostgreSQL, S3 (gofakes3), SQS
// (local-aws-sqs), Secrets Manager (an in-process stand-in), web nodes
// behind a load balancer, and workers. The nodes reach PostgreSQL, S3 and
// SQS through a fault injector (see faults.go); the fields and clients here
// reach the services directly.
type Cluster struct {
	opt Options

	URL             string // the load balancer
	S3Endpoint      string
	SQSEndpoint     string
	SecretsEndpoint string
	QueueURL        string
	DLQURL          string
	DatabaseURL     string
	DatabaseName    string
	Bucket          string

	// Where the nodes reach the services: the fault injector's proxies.
	NodeS3Endpoint  string
	NodeSQSEndpoint string
	NodeDatabase    string // host:port

	bin      string
	webAddrs []string
	faults   *faults

	mu    sync.Mutex
	procs map[string]*Proc
	stops []func() // undo steps of Start, run last first

	S3  *s3.Client
	SQS *sqs.Client
}

// Proc is one process of the cluster.
type Proc struct {
	Name string
	Addr string // web nodes
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit status, once done is closed
}

// LogDir holds one log file per process of the cluster.
func (c *Cluster) LogDir() string { return filepath.Join(c.opt.RunDir, "logs") }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Wait waits at most d for the process to end and returns its exit error.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s still running after %s", p.Name, d)
	}
}

// The secrets the stack keeps in Secrets Manager.
var (
	dbSecretARN  = secretstest.ARN("anb-db")
	jwtSecretARN = secretstest.ARN("anb-jwt")
)

// Start builds the binaries and starts every service and process; on error
// it stops what it had started.
func Start(ctx context.Context, opt Options) (c *Cluster, err error) {
	if opt.Webs == 0 {
		opt.Webs = 2
	}
	if opt.Workers == 0 {
		opt.Workers = 2
	}
	if opt.Progress == nil {
		opt.Progress = io.Discard
	}
	c = &Cluster{opt: opt, procs: map[string]*Proc{}, Bucket: bucket, bin: filepath.Join(opt.RunDir, "bin")}
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()
	for _, d := range []string{c.bin, filepath.Join(opt.RunDir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return c, err
		}
	}
	tools := filepath.Join(opt.Root, ".tools")
	gofakes3 := filepath.Join(tools, "bin", "gofakes3")
	if _, err := os.Stat(gofakes3); err != nil {
		return c, fmt.Errorf("gofakes3 is not installed at %s: run ./scripts/cluster/run, or `source scripts/lib.sh && need_go_tool gofakes3 github.com/johannesboyne/gofakes3/cmd/gofakes3@v1.2.0`", gofakes3)
	}

	c.step("building app, worker and lb into %s", c.bin)
	build := exec.CommandContext(ctx, "go", "build", "-o", c.bin+"/", "./app", "./worker", "./scripts/cluster/lb")
	build.Dir = opt.Root
	if out, err := build.CombinedOutput(); err != nil {
		return c, fmt.Errorf("go build: %w\n%s", err, out)
	}

	c.step("creating a fresh PostgreSQL database")
	if err := c.createDatabase(ctx); err != nil {
		return c, err
	}

	ports, err := freePorts(opt.Port, opt.WebPort, opt.S3Port, opt.SecretsPort, opt.Webs)
	if err != nil {
		return c, err
	}

	faultLog, err := c.logFile("faults")
	if err != nil {
		return c, err
	}
	c.faults = newFaults(faultLog)
	c.stops = append(c.stops, func() { c.faults.close(); faultLog.Close() })
	admin, _ := url.Parse(opt.AdminDatabaseURL)
	dbPort := admin.Port()
	if dbPort == "" {
		dbPort = "5432"
	}
	if c.NodeDatabase, err = c.faults.add(PostgreSQL, net.JoinHostPort(admin.Hostname(), dbPort)); err != nil {
		return c, err
	}

	c.step("starting the Secrets Manager stand-in")
	if err := c.startSecrets(ports.secrets); err != nil {
		return c, err
	}

	c.step("starting S3 (gofakes3, files under %s)", filepath.Join(opt.RunDir, "s3"))
	c.S3Endpoint = fmt.Sprintf("http://127.0.0.1:%d", ports.s3)
	s3proc, err := c.start("s3", "", gofakes3, []string{"-backend", "fs", "-fs.path", filepath.Join(opt.RunDir, "s3"), "-fs.create",
		"-host", fmt.Sprintf("127.0.0.1:%d", ports.s3), "-initialbucket", bucket}, nil)
	if err != nil {
		return c, err
	}
	if err := waitTCP(ctx, s3proc, fmt.Sprintf("127.0.0.1:%d", ports.s3)); err != nil {
		return c, err
	}
	if c.NodeS3Endpoint, err = c.faults.proxyURL(S3, c.S3Endpoint); err != nil {
		return c, err
	}

	c.step("starting SQS (local-aws-sqs) and creating %s with its dead-letter queue", queueName)
	sqsLog, err := c.logFile("sqs")
	if err != nil {
		return c, err
	}
	sqsServer, err := sqstest.Start(tools, opt.SQSPort, sqsLog)
	if err != nil {
		sqsLog.Close()
		return c, err
	}
	c.stops = append(c.stops, func() { sqsServer.Close(); sqsLog.Close() })
	c.SQSEndpoint = sqsServer.Endpoint
	if c.NodeSQSEndpoint, err = c.faults.proxyURL(SQS, c.SQSEndpoint); err != nil {
		return c, err
	}

	// From the SDK's default configuration, like the binaries' clients: with
	// a bare aws.Config, PutObject sends its checksum in a form gofakes3 does
	// not record, and an overwritten object keeps the previous checksum.
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(localKey, localKey, "")))
	if err != nil {
		return c, err
	}
	c.S3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(c.S3Endpoint)
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	c.SQS = sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(c.SQSEndpoint) })
	// The redrive limit is the stack's: nodespec.QueueMaxReceiveCount.
	if c.QueueURL, c.DLQURL, err = sqstest.CreateQueues(ctx, c.SQS, queueName, cmp.Or(opt.Speed.Visibility, nodespec.Visibility)); err != nil {
		return c, err
	}

	for i := range opt.Webs {
		c.webAddrs = append(c.webAddrs, fmt.Sprintf("127.0.0.1:%d", ports.webs[i]))
	}
	c.step("starting %d web nodes and %d workers", opt.Webs, max(0, opt.Workers))
	for i := range opt.Webs {
		if _, err := c.StartWeb(ctx, i+1); err != nil {
			return c, err
		}
	}
	for i := range opt.Workers {
		if _, err := c.StartWorker(ctx, i+1); err != nil {
			return c, err
		}
	}

	c.step("starting the load balancer")
	lbAddr := fmt.Sprintf("127.0.0.1:%d", ports.lb)
	lb, err := c.start("lb", lbAddr, filepath.Join(c.bin, "lb"),
		[]string{"-listen", lbAddr, "-backends", strings.Join(c.webAddrs, ","), "-health-interval", "500ms"}, nil)
	if err != nil {
		return c, err
	}
	c.URL = "http://" + lbAddr
	if err := waitHTTP(ctx, lb, c.URL+nodespec.LivenessPath); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) step(format string, args ...any) {
	fmt.Fprintf(c.opt.Progress, "==> "+format+"\n", args...)
}

func (c *Cluster) logFile(name string) (*os.File, error) {
	return os.OpenFile(filepath.Join(c.opt.RunDir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// resources are the stand-ins a node of this cluster points at, as the
// CloudFormation resources are on AWS.
func (c *Cluster) resources(name string) nodespec.Resources {
	return nodespec.Resources{
		Region:        region,
		Bucket:        bucket,
		QueueURL:      c.QueueURL,
		DeadLetterURL: c.DLQURL,
		DBSecretARN:   dbSecretARN,
		JWTSecretARN:  jwtSecretARN,
		DataDir:       c.DataDir(name),
	}
}

// DataDir is the data directory of the node called name (web1, worker2, ...).
func (c *Cluster) DataDir(name string) string { return filepath.Join(c.opt.RunDir, name) }

// localKey is the access key (and secret) the stand-ins accept: they do not
// check signatures.
const localKey = "local"

// nodeEnv is a node's environment: this process's own (PATH, HOME, ...)
// without any ANB_* or AWS_* setting, the tier's AWS configuration, the
// SDK settings that point it at the stand-ins (through the fault injector)
// instead of AWS, the faster settings of Options.Speed (workers) and
// Options.Env.
func (c *Cluster) nodeEnv(tier []nodespec.Var, speed ...nodespec.Var) []string {
	standIns := []nodespec.Var{
		{Name: "AWS_ENDPOINT_URL_S3", Value: c.NodeS3Endpoint},
		{Name: "AWS_ENDPOINT_URL_SQS", Value: c.NodeSQSEndpoint},
		{Name: "AWS_ENDPOINT_URL_SECRETS_MANAGER", Value: c.SecretsEndpoint},
		{Name: "AWS_ACCESS_KEY_ID", Value: localKey},
		{Name: "AWS_SECRET_ACCESS_KEY", Value: localKey},
		{Name: "AWS_EC2_METADATA_DISABLED", Value: "true"},
	}
	// A machine whose ffmpeg is not where the AWS image has it says where.
	if ffmpeg := os.Getenv(nodespec.EnvFFmpeg); ffmpeg != "" {
		standIns = append(standIns, nodespec.Var{Name: nodespec.EnvFFmpeg, Value: ffmpeg})
	}
	env := baseEnv()
	for _, vars := range [][]nodespec.Var{tier, standIns, speed, oneAddress, c.opt.Env} {
		env = append(env, nodespec.Environ(vars)...)
	}
	return env
}

// oneAddress raises the signup limits: every client of the topology on one
// machine (tests, the load tool) comes from loopback, one address, where on
// AWS each user has their own. A test of the limits sets them back through
// Options.Env, which comes after.
var oneAddress = []nodespec.Var{{Name: nodespec.EnvSignupsPerAddress, Value: "1000000"}, {Name: nodespec.EnvSignupsTotal, Value: "1000000"}}

// StartWeb starts (or restarts) web node i and waits until it is live.
func (c *Cluster) StartWeb(ctx context.Context, i int) (*Proc, error) {
	name := fmt.Sprintf("web%d", i)
	addr := c.webAddrs[i-1]
	r := c.resources(name)
	_, port, _ := net.SplitHostPort(addr)
	r.Port, _ = strconv.Atoi(port)
	p, err := c.start(name, addr, filepath.Join(c.bin, "app"), nil, c.nodeEnv(nodespec.WebEnv(r)))
	if err != nil {
		return nil, err
	}
	return p, waitHTTP(ctx, p, "http://"+addr+nodespec.LivenessPath)
}

// StartWorker starts (or restarts) worker i, with extra settings on top of
// the tier's (an instance's own metadata endpoint, say), and waits until it
// consumes.
func (c *Cluster) StartWorker(ctx context.Context, i int, extra ...nodespec.Var) (*Proc, error) {
	name := fmt.Sprintf("worker%d", i)
	p, err := c.start(name, "", filepath.Join(c.bin, "worker"), nil, c.nodeEnv(nodespec.WorkerEnv(c.resources(name)), append(c.opt.Speed.vars(), extra...)...))
	if err != nil {
		return nil, err
	}
	return p, waitLog(ctx, p, `"msg":"worker started"`)
}

// Proc returns the process called name (web1, worker2, lb, s3, ...).
func (c *Cluster) Proc(name string) *Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

// Procs lists the processes whose name starts with prefix.
func (c *Cluster) Procs(prefix string) []*Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Proc
	for i := 1; ; i++ {
		p, ok := c.procs[fmt.Sprintf("%s%d", prefix, i)]
		if !ok {
			return out
		}
		out = append(out, p)
	}
}

// start runs a process with its output appended to logs/NAME.log, in its
// own process group (so a Ctrl-C reaches only the cluster, which stops the
// processes in order) and killed if the cluster process dies.
func (c *Cluster) start(name, addr, bin string, args, env []string) (*Proc, error) {
	if old := c.Proc(name); old != nil {
		if done, _ := old.Exited(); !done {
			return nil, fmt.Errorf("%s is already running (pid %d)", name, old.Pid())
		}
	}
	logPath := filepath.Join(c.opt.RunDir, "logs", name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.opt.RunDir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Addr: addr, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	return p, nil
}

// Signal sends sig to the process alone.
func (c *Cluster) Signal(name string, sig syscall.Signal) error {
	p := c.Proc(name)
	if p == nil {
		return fmt.Errorf("no process %s", name)
	}
	return p.cmd.Process.Signal(sig)
}

// Crash kills the process and its children (a worker's ffmpeg) at once, as
// when the machine under them dies, and waits for it.
func (c *Cluster) Crash(name string) error {
	p := c.Proc(name)
	if p == nil {
		return fmt.Errorf("no process %s", name)
	}
	if err := syscall.Kill(-p.Pid(), syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// stop asks a process to stop (SIGTERM) and kills its group after grace.
func (p *Proc) stop(grace time.Duration) {
	if done, _ := p.Exited(); done {
		syscall.Kill(-p.Pid(), syscall.SIGKILL) // leftovers of its group
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}

// Stop stops everything Start started, by process id: the load balancer,
// the web nodes (draining requests), the workers (finishing or releasing
// their jobs), then the services; and drops the database. It is safe to call
// more than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	procs := c.procs
	c.procs = map[string]*Proc{}
	stops := c.stops
	c.stops = nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	stopAll := func(prefix string, grace time.Duration) {
		for name, p := range procs {
			if strings.HasPrefix(name, prefix) {
				wg.Go(func() { p.stop(grace) })
			}
		}
		wg.Wait()
	}
	stopAll("lb", 10*time.Second)
	stopAll("web", 35*time.Second)
	// A worker lets its job finish for its shutdown grace, then releases it.
	stopAll("worker", cmp.Or(c.opt.Speed.ShutdownGrace, nodespec.ShutdownGrace)+10*time.Second)
	stopAll("s3", 5*time.Second)
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
}

func (c *Cluster) createDatabase(ctx context.Context) error {
	admin := c.opt.AdminDatabaseURL
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s (start it with scripts/lib.sh's start_postgres): %w", redact(admin), err)
	}
	defer conn.Close(ctx)
	raw := make([]byte, 4)
	rand.Read(raw)
	name := "anb_cluster_" + hex.EncodeToString(raw)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	c.stops = append(c.stops, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	c.DatabaseURL = u.String()
	c.DatabaseName = name
	return nil
}

// startSecrets serves the two secrets the stack keeps in Secrets Manager:
// the RDS-style database secret, which sends the nodes to PostgreSQL
// through the fault injector, and a generated JWT signing key.
func (c *Cluster) startSecrets(port int) error {
	u, _ := url.Parse(c.opt.AdminDatabaseURL)
	password, _ := u.User.Password()
	host, dbPort, _ := net.SplitHostPort(c.NodeDatabase)
	portNumber, _ := strconv.Atoi(dbPort)
	dbSecret, _ := json.Marshal(map[string]any{"engine": "postgres", "host": host, "port": portNumber,
		"username": u.User.Username(), "password": password, "dbname": c.DatabaseName})
	key := make([]byte, 32)
	rand.Read(key)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("Secrets Manager stand-in: %w", err)
	}
	srv := &http.Server{Handler: secretstest.Handler(map[string]string{
		dbSecretARN:  string(dbSecret),
		jwtSecretARN: hex.EncodeToString(key),
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	c.stops = append(c.stops, func() { srv.Close() })
	c.SecretsEndpoint = "http://" + ln.Addr().String()
	return nil
}

// ephemeralLow is the first port the kernel hands out for outgoing
// connections (and listeners on port 0).
func ephemeralLow() int {
	const linuxDefault = 32768
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	fields := strings.Fields(string(raw))
	if len(fields) != 2 {
		return linuxDefault
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil || low < 2048 {
		return linuxDefault
	}
	return low
}

type portPlan struct {
	lb, s3, secrets int
	webs            []int
}

// freePorts keeps the ports asked for and picks free loopback ports for the
// zeros (the SQS server picks its own). They are picked below the kernel's
// ephemeral range: a free port in that range can become the source port of
// a node's outgoing connection (to PostgreSQL, S3, SQS) in the seconds
// before the process meant to listen on it starts.
func freePorts(lb, web, s3, secrets, webs int) (portPlan, error) {
	low := ephemeralLow()
	pick := func(want int) (int, error) {
		if want != 0 {
			return want, nil
		}
		for range 200 {
			port := low/2 + mathrand.IntN(low/2)
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				continue
			}
			l.Close()
			return port, nil
		}
		return 0, fmt.Errorf("no free port between %d and %d", low/2, low)
	}
	var p portPlan
	var err error
	for _, x := range []struct {
		dst  *int
		want int
	}{{&p.lb, lb}, {&p.s3, s3}, {&p.secrets, secrets}} {
		if *x.dst, err = pick(x.want); err != nil {
			return p, err
		}
	}
	for i := range webs {
		want := 0
		if web != 0 {
			want = web + i
		}
		port, err := pick(want)
		if err != nil {
			return p, err
		}
		p.webs = append(p.webs, port)
	}
	return p, nil
}

// baseEnv is this process's environment without ANB_* and AWS_* settings,
// which the cluster sets itself; AWS_CA_BUNDLE stays (the SDK needs it on
// machines that set it).
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "ANB_") || strings.HasPrefix(k, "AWS_")) && k != "AWS_CA_BUNDLE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

const startTimeout = 60 * time.Second

func waitFor(ctx context.Context, p *Proc, what string, ready func() bool) error {
	deadline := time.Now().Add(startTimeout)
	for !ready() {
		if done, err := p.Exited(); done {
			return fmt.Errorf("%s exited while starting (%v); last lines of %s:\n%s", p.Name, err, p.Log, Tail(p.Log, 15))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not %s after %s; last lines of %s:\n%s", p.Name, what, startTimeout, p.Log, Tail(p.Log, 15))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func waitTCP(ctx context.Context, p *Proc, addr string) error {
	return waitFor(ctx, p, "listening", func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

func waitHTTP(ctx context.Context, p *Proc, u string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return waitFor(ctx, p, "healthy", func() bool {
		resp, err := client.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func waitLog(ctx context.Context, p *Proc, line string) error {
	return waitFor(ctx, p, "ready", func() bool { return CountLog(p.Log, line) > 0 })
}

// CountLog counts the lines of a log file that contain every one of parts.
func CountLog(path string, parts ...string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ok := true
		for _, part := range parts {
			if !strings.Contains(sc.Text(), part) {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	return n
}

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Busy reports whether the process has a child process: for a worker, an
// ffmpeg running a job.
func Busy(p *Proc) bool {
	entries, _ := os.ReadDir("/proc")
	ppid := " " + strconv.Itoa(p.Pid()) + " "
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: the fields after the command name.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		if fields := strings.Fields(rest); len(fields) > 1 && " "+fields[1]+" " == ppid {
			return true
		}
	}
	return false
}
