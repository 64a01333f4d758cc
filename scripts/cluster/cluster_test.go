//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/mp4/mediatest"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jackc/pgx/v5"
)

// The fault tests run the AWS topology (see cluster.go) and break it the
// ways machines break: a worker killed mid-job, a worker stopped mid-job, a
// video that cannot be processed, a web node killed or stopped under load,
// and a burst of uploads. They take a few minutes on 2 cores, so they run
// only when asked: ANB_CLUSTER_TEST=1 (./scripts/test sets it).

// speed shortens the workers' timings: the lease (visibility) so that a
// dead worker's task comes back quickly, and so that jobs outlive it and
// depend on their heartbeat (every third of it); the retry delay; and the
// shutdown grace, so that a worker stopped mid-job releases its job rather
// than finishing it.
var speed = Speed{Visibility: visibility, RetryBaseDelay: time.Second, ShutdownGrace: time.Second}

const visibility = 10 * time.Second

// harnessApp names the tests' own database connections, which the
// connection counts leave out.
const harnessApp = "anb-gameday"

type env struct {
	c    *Cluster
	clip string // a valid 21 s 1080p clip, cheap to transcode (5 fps)
	db   *pgx.Conn
}

// startCluster starts a cluster of its own for the test with opt (root,
// run directory, database and progress filled in) and stops it at cleanup,
// keeping the logs of a failed test. The cluster tests run only with
// ANB_CLUSTER_TEST=1: they take minutes, so ./scripts/test runs them in a
// step of their own.
func startCluster(t *testing.T, opt Options) *Cluster {
	t.Helper()
	if os.Getenv("ANB_CLUSTER_TEST") != "1" {
		t.Skip("the cluster tests start the AWS topology and take minutes: run them with ANB_CLUSTER_TEST=1 (./scripts/test does)")
	}
	opt.AdminDatabaseURL = os.Getenv("ANB_TEST_DATABASE_URL")
	if opt.AdminDatabaseURL == "" {
		t.Fatal("ANB_TEST_DATABASE_URL must name a PostgreSQL role that may create databases (./scripts/test sets it)")
	}
	start := time.Now()
	var err error
	if opt.Root, err = filepath.Abs("../.."); err != nil {
		t.Fatal(err)
	}
	if opt.RunDir, err = os.MkdirTemp("", "anb-cluster-test-"); err != nil {
		t.Fatal(err)
	}
	opt.Progress = logWriter{t}
	c, err := Start(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"lb", "web1", "web2", "worker1", "worker2", "s3"} {
				t.Logf("--- last lines of %s:\n%s", name, Tail(filepath.Join(opt.RunDir, "logs", name+".log"), 25))
			}
		}
		c.Stop()
		if t.Failed() {
			t.Logf("logs kept in %s", filepath.Join(opt.RunDir, "logs"))
		} else {
			os.RemoveAll(opt.RunDir)
		}
		t.Logf("%s: %.0f s in all", t.Name(), time.Since(start).Seconds())
	})
	t.Logf("cluster up in %.1f s: %s", time.Since(start).Seconds(), c.URL)
	return c
}

func TestCluster(t *testing.T) {
	c := startCluster(t, Options{
		Speed: speed,
		Env:   []nodespec.Var{{Name: nodespec.EnvRankingsCacheTTL, Value: "0"}},
	})
	db := harnessDB(t, c)
	e := &env{c: c, db: db, clip: mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 21, FPS: 5})}

	steps := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"journey through the load balancer", testJourney},
		{"worker killed mid-job", testWorkerCrash},
		{"worker stopped mid-job", testWorkerSIGTERM},
		{"worker stopped three times mid-job", testWorkerSIGTERMThrice},
		{"poison video", testPoisonVideo},
		{"web node killed under requests", testWebNodeCrash},
		{"web node stopped during an upload", testWebNodeDrain},
		{"PostgreSQL cut under load", testPostgresCut},
		{"PostgreSQL slow under load", testPostgresSlow},
		{"S3 cut during an upload", testS3Cut},
		{"SQS cut during an upload", testSQSCut},
		{"burst of uploads", testBurst},
		{"PostgreSQL cut with videos queued", testPostgresQueuedCut},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, e) }) {
			return // the next steps assume a healthy cluster
		}
	}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fetchMedia follows a media URL of the API: a 302 to a presigned S3 URL
// (the S3 endpoint the nodes know), then the object itself.
func fetchMedia(t *testing.T, e *env, p *player, path string) (body []byte, contentType string) {
	t.Helper()
	r := p.must(t, http.StatusFound, "GET", path, nil)
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, e.c.NodeS3Endpoint+"/"+e.c.Bucket+"/") || !strings.Contains(loc, "X-Amz-Signature=") {
		t.Fatalf("%s redirects to %q, want a presigned URL of the bucket", path, loc)
	}
	resp, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned GET of %s: %d %s", path, resp.StatusCode, body)
	}
	return body, resp.Header.Get("Content-Type")
}

func testJourney(t *testing.T, e *env) {
	base := e.c.URL
	owner := signUp(t, base, "Valentina", "Rojas", "Medellín")
	voter := signUp(t, base, "Andrés", "Pérez", "Cali")

	id := owner.upload(t, e.clip, "Mi mejor jugada")
	v := owner.waitStatus(t, id, "processed", 2*time.Minute)
	if v.ProcessedURL == nil || v.PosterURL == nil {
		t.Fatalf("processed video without media URLs: %+v", v)
	}

	// The public processed file needs no token; it comes from S3.
	anonymous := newClient(base)
	processed, ct := fetchMedia(t, e, anonymous, *v.ProcessedURL)
	if ct != "video/mp4" {
		t.Errorf("processed file served as %q", ct)
	}
	out := filepath.Join(t.TempDir(), "processed.mp4")
	os.WriteFile(out, processed, 0o644)
	m := mediatest.Probe(t, out)
	if vs := m.StreamsOf("video"); len(vs) != 1 || vs[0].Width != 1280 || vs[0].Height != 720 {
		t.Errorf("processed file streams %+v, want one 1280x720 video", m.Streams)
	}
	poster, _ := fetchMedia(t, e, anonymous, *v.PosterURL)
	if !bytes.HasPrefix(poster, []byte{0xff, 0xd8}) {
		t.Errorf("poster is not a JPEG (%d bytes)", len(poster))
	}
	original, _ := fetchMedia(t, e, owner, v.OriginalURL)
	want, _ := os.ReadFile(e.clip)
	if !bytes.Equal(original, want) {
		t.Errorf("original from S3 (%d bytes) differs from the upload (%d bytes)", len(original), len(want))
	}

	voter.must(t, http.StatusOK, "POST", "/api/public/videos/"+id+"/vote", nil)
	voter.must(t, http.StatusBadRequest, "POST", "/api/public/videos/"+id+"/vote", nil)
	var public []struct {
		VideoID  string `json:"video_id"`
		Votes    int    `json:"votes"`
		HasVoted bool   `json:"has_voted"`
	}
	voter.must(t, http.StatusOK, "GET", "/api/public/videos?page_size=100", nil).json(t, &public)
	found := false
	for _, pv := range public {
		if pv.VideoID == id {
			found = true
			if pv.Votes != 1 || !pv.HasVoted {
				t.Errorf("public video = %+v, want 1 vote, has_voted", pv)
			}
		}
	}
	if !found {
		t.Errorf("processed public video %s missing from the public list", id)
	}
	var ranking []struct {
		Position int    `json:"position"`
		Username string `json:"username"`
		Votes    int    `json:"votes"`
	}
	anonymous.must(t, http.StatusOK, "GET", "/api/public/rankings?city=medellín", nil).json(t, &ranking)
	if len(ranking) != 1 || ranking[0].Username != "Valentina Rojas" || ranking[0].Votes != 1 || ranking[0].Position != 1 {
		t.Errorf("rankings of Medellín = %+v, want Valentina Rojas first with 1 vote", ranking)
	}

	// The same tokens worked on both nodes: they share the signing key
	// from Secrets Manager.
	seen := map[string]int{}
	for _, p := range []*player{owner, voter, anonymous} {
		for b, n := range p.backends {
			seen[b] += n
		}
	}
	if seen["web1"] == 0 || seen["web2"] == 0 {
		t.Errorf("requests per node = %v, want both nodes used", seen)
	}
	t.Logf("journey: upload → processed in %s; requests per node %v", processingTime(t, e, id), seen)
}

// processingTime is uploaded_at → processed_at of a video.
func processingTime(t *testing.T, e *env, id string) time.Duration {
	var up, done time.Time
	if err := e.db.QueryRow(context.Background(), "SELECT uploaded_at, processed_at FROM videos WHERE id = $1", id).Scan(&up, &done); err != nil {
		t.Fatal(err)
	}
	return done.Sub(up).Round(100 * time.Millisecond)
}

func attempts(t *testing.T, e *env, id string) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), "SELECT attempts FROM videos WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// workerLogCount counts the lines of every worker log that mention the
// video and contain msg.
func workerLogCount(e *env, id, msg string) int {
	n := 0
	for _, w := range e.c.Procs("worker") {
		n += CountLog(w.Log, `"video_id":"`+id+`"`, `"msg":"`+msg+`"`)
	}
	return n
}

// processedCount is how many times the workers logged the video processed.
func processedCount(e *env, id string) int {
	return workerLogCount(e, id, nodespec.ProcessedLogMessage)
}

// longestJob is the longest processing time the workers logged for the
// videos, in seconds.
func longestJob(e *env, ids []string) float64 {
	longest := 0.0
	for _, seconds := range jobSeconds(e, ids) {
		longest = max(longest, seconds)
	}
	return longest
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("not %s after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// busyWorker waits until a worker runs ffmpeg and returns it.
func busyWorker(t *testing.T, e *env) *Proc {
	t.Helper()
	var busy *Proc
	waitUntil(t, "transcoding on any worker", time.Minute, func() bool {
		for _, w := range e.c.Procs("worker") {
			if done, _ := w.Exited(); !done && Busy(w) {
				busy = w
				return true
			}
		}
		return false
	})
	return busy
}

// lbLogCount counts the load balancer's log lines that contain every one
// of parts.
func lbLogCount(e *env, parts ...string) int { return CountLog(e.c.Proc("lb").Log, parts...) }

func restartWorker(t *testing.T, e *env, w *Proc) {
	t.Helper()
	var i int
	fmt.Sscanf(w.Name, "worker%d", &i)
	if _, err := e.c.StartWorker(context.Background(), i); err != nil {
		t.Fatalf("restart %s: %v", w.Name, err)
	}
}

// queueLength is how many messages a queue holds, visible or not.
func queueLength(t *testing.T, e *env, url string) int {
	t.Helper()
	out, err := e.c.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	// local-aws-sqs counts in-flight messages in both attributes; SQS only
	// in the second.
	visible, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	hidden, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return max(visible, hidden)
}

// queueEmpty checks that the task queue holds nothing, visible or not.
func queueEmpty(t *testing.T, e *env) {
	t.Helper()
	if n := queueLength(t, e, e.c.QueueURL); n != 0 {
		t.Errorf("task queue holds %d tasks, want none", n)
	}
}

func testWorkerCrash(t *testing.T, e *env) {
	p := signUp(t, e.c.URL, "Camilo", "Díaz", "Bogotá")
	id := p.upload(t, e.clip, "Triple sobre la bocina")
	w := busyWorker(t, e)
	if s := p.video(t, id).Status; s != "processing" {
		t.Fatalf("status while transcoding = %s", s)
	}
	if err := e.c.Crash(w.Name); err != nil {
		t.Fatal(err)
	}
	crashed := time.Now()
	t.Logf("%s killed with SIGKILL (with its ffmpeg) mid-job", w.Name)
	defer restartWorker(t, e, w)

	p.waitStatus(t, id, "processed", 3*time.Minute)
	t.Logf("processed by the other worker %.1f s after the crash (lease %s)", time.Since(crashed).Seconds(), visibility)
	if n := attempts(t, e, id); n != 2 {
		t.Errorf("attempts = %d, want 2 (the crashed one and the one that finished)", n)
	}
	if n := processedCount(e, id); n != 1 {
		t.Errorf("video processed %d times, want once", n)
	}
	if _, err := e.c.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.c.Bucket, Key: aws.String(blob.ProcessedKey(id))}); err != nil {
		t.Errorf("processed file: %v", err)
	}
	queueEmpty(t, e)
}

func testWorkerSIGTERM(t *testing.T, e *env) {
	p := signUp(t, e.c.URL, "Laura", "Gómez", "Cali")
	id := p.upload(t, e.clip, "Bandeja en contraataque")
	w := busyWorker(t, e)
	if err := e.c.Signal(w.Name, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := w.Wait(45 * time.Second); err != nil {
		t.Fatalf("%s after SIGTERM: %v", w.Name, err)
	}
	t.Logf("%s stopped cleanly %.1f s after SIGTERM", w.Name, time.Since(stopped).Seconds())
	defer restartWorker(t, e, w)

	finished := CountLog(w.Log, `"video_id":"`+id+`"`, `"msg":"`+nodespec.ProcessedLogMessage+`"`) == 1
	released := CountLog(w.Log, `"video_id":"`+id+`"`, `"msg":"task released"`) == 1
	if finished == released {
		t.Fatalf("%s neither finished nor released the job in hand (finished %v, released %v)", w.Name, finished, released)
	}
	p.waitStatus(t, id, "processed", 2*time.Minute)
	if finished {
		t.Logf("the stopping worker finished its job")
	} else {
		t.Logf("the stopping worker released its job; another worker processed it")
	}
	if n := processedCount(e, id); n != 1 {
		t.Errorf("video processed %d times, want once", n)
	}
	queueEmpty(t, e)
}

func testPoisonVideo(t *testing.T, e *env) {
	p := signUp(t, e.c.URL, "Mateo", "Herrera", "Barranquilla")
	// Hold the workers so the original can be spoiled before any of them
	// reads it (a stopped process keeps its connections; a worker stopped
	// with SIGTERM while polling would leave its poll open on the server).
	workers := e.c.Procs("worker")
	for _, w := range workers {
		e.c.Signal(w.Name, syscall.SIGSTOP)
	}
	resumed := false
	resume := func() {
		if !resumed {
			for _, w := range workers {
				e.c.Signal(w.Name, syscall.SIGCONT)
			}
			resumed = true
		}
	}
	defer resume()
	id := p.upload(t, e.clip, "Clavada imposible")
	junk := bytes.Repeat([]byte("this is no longer a video "), 40_000)
	if _, err := e.c.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.c.Bucket,
		Key: aws.String(blob.OriginalKey(id)), Body: bytes.NewReader(junk)}); err != nil {
		t.Fatal(err)
	}
	resume()

	v := p.waitStatus(t, id, "failed", 2*time.Minute)
	if !strings.HasPrefix(v.Error, "No se pudo procesar el video") {
		t.Errorf("failed video tells its owner %q", v.Error)
	}
	var attempts, failures int
	if err := e.db.QueryRow(context.Background(), "SELECT attempts, failures FROM videos WHERE id = $1", id).Scan(&attempts, &failures); err != nil {
		t.Fatal(err)
	}
	if attempts != nodespec.MaxProcessingAttempts || failures != nodespec.MaxProcessingAttempts {
		t.Errorf("attempts %d, failures %d: want %d real failures, no other attempt", attempts, failures, nodespec.MaxProcessingAttempts)
	}
	retries, gaveUp := workerLogCount(e, id, "processing failed; will retry"), workerLogCount(e, id, "video failed for good")
	if retries != nodespec.MaxProcessingAttempts-1 || gaveUp != 1 {
		t.Errorf("worker logs: %d retries and %d final failures, want %d and 1", retries, gaveUp, nodespec.MaxProcessingAttempts-1)
	}

	// The task stays in the dead-letter queue, where a worker's sweep may
	// hold it hidden (on local-aws-sqs, even the poll of a worker stopped
	// earlier may take it); a receive reads it when it is visible.
	inDLQ := waitUntil(t, "the task in the dead-letter queue", time.Minute, func() bool { return queueLength(t, e, e.c.DLQURL) > 0 })
	if n := queueLength(t, e, e.c.DLQURL); n != 1 {
		t.Errorf("%d tasks in the dead-letter queue, want 1", n)
	}
	out, err := e.c.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &e.c.DLQURL, WaitTimeSeconds: 1,
		MaxNumberOfMessages: 10, VisibilityTimeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	read := "hidden by a worker's receive"
	for _, m := range out.Messages {
		if body := aws.ToString(m.Body); !strings.Contains(body, id) {
			t.Errorf("dead-letter queue holds %s, want only the task of %s", body, id)
		}
		read = "read back"
	}
	queueEmpty(t, e)
	t.Logf("poison video: failed after %d attempts, %d failures (%d retries, 1 final failure in the worker logs); its task in the dead-letter queue (%s, seen %.1f s after); the owner reads %q",
		attempts, failures, retries, read, inDLQ.Seconds(), v.Error)
}

// tally counts the answers of hammer by status and by node.
type tally struct {
	mu        sync.Mutex
	byStatus  map[int]int
	byBackend map[string]int
	errors    []string
	done      chan struct{} // closed when every client stopped
}

// answered is how many requests got an answer, in all and from node.
func (t *tally) answered(node string) (all, byNode int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.byStatus {
		all += n
	}
	return all, t.byBackend[node]
}

// hammer sends GET requests from n clients until stop is closed.
func hammer(e *env, p *player, videoID string, n int, stop <-chan struct{}) *tally {
	t := &tally{byStatus: map[int]int{}, byBackend: map[string]int{}, done: make(chan struct{})}
	paths := []string{"/api/public/rankings", "/api/public/videos", "/api/videos", "/api/videos/" + videoID, nodespec.LivenessPath}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := newClient(e.c.URL)
			c.token = p.token
			for j := i; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.call(context.Background(), "GET", paths[j%len(paths)], nil, "")
				t.mu.Lock()
				if err != nil {
					t.errors = append(t.errors, err.Error())
				} else {
					t.byStatus[r.status]++
					t.byBackend[r.header.Get("X-Anb-Backend")]++
				}
				t.mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(t.done) }()
	return t
}

func testWebNodeCrash(t *testing.T, e *env) {
	p := signUp(t, e.c.URL, "Sofía", "Vargas", "Cartagena")
	id := p.upload(t, e.clip, "Robo y contragolpe")
	stop := make(chan struct{})
	tl := hammer(e, p, id, 8, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()
	waitUntil(t, "both nodes answering under load", 30*time.Second, func() bool {
		_, web1 := tl.answered("web1")
		_, web2 := tl.answered("web2")
		return web1 >= 100 && web2 >= 100
	})
	outBefore := lbLogCount(e, `"msg":"node out of service"`, `"node":"web1"`)
	before, _ := tl.answered("")
	if err := e.c.Crash("web1"); err != nil {
		t.Fatal(err)
	}
	t.Log("web1 killed with SIGKILL under load")
	// Until the load balancer took web1 out and web2 alone answered 1,000
	// more requests.
	waitUntil(t, "web1 out of service and 1,000 requests answered after the crash", 30*time.Second, func() bool {
		all, _ := tl.answered("")
		return lbLogCount(e, `"msg":"node out of service"`, `"node":"web1"`) > outBefore && all >= before+1000
	})
	close(stop)
	<-tl.done
	total := 0
	for _, n := range tl.byStatus {
		total += n
	}
	if tl.byStatus[http.StatusOK] != total || len(tl.errors) > 0 {
		t.Errorf("answers by status %v, %d transport errors %v: want every request to succeed", tl.byStatus, len(tl.errors), tl.errors[:min(3, len(tl.errors))])
	}
	retried := CountLog(e.c.Proc("lb").Log, `"msg":"retrying on another node"`)
	t.Logf("%d requests from 8 clients, all answered 200; by node %v; %d retried on the other node by the load balancer", total, tl.byBackend, retried)

	if _, err := e.c.StartWeb(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	c := newClient(e.c.URL)
	back := waitUntil(t, "restarted web1 serving through the load balancer", 15*time.Second, func() bool {
		c.must(t, http.StatusOK, "GET", nodespec.LivenessPath, nil)
		return c.backends["web1"] > 0
	})
	t.Logf("web1 restarted and back in service %.1f s after it was live", back.Seconds())
}

// slowBody sends the first part of a body, then waits for proceed before
// sending the rest.
type slowBody struct {
	first, rest io.Reader
	sent        chan struct{}
	proceed     chan struct{}
	once        sync.Once
}

// newSlowBody holds back the second half of body.
func newSlowBody(body []byte) *slowBody {
	half := len(body) / 2
	return &slowBody{first: bytes.NewReader(body[:half]), rest: bytes.NewReader(body[half:]), sent: make(chan struct{}), proceed: make(chan struct{})}
}

func (b *slowBody) Read(p []byte) (int, error) {
	n, err := b.first.Read(p)
	if n > 0 || err != io.EOF {
		return n, err
	}
	b.once.Do(func() { close(b.sent); <-b.proceed })
	return b.rest.Read(p)
}

func testWebNodeDrain(t *testing.T, e *env) {
	p := signUp(t, e.c.URL, "Juliana", "Castro", "Pereira")
	body, ct := multipartBody(e.clip, "Alley-oop", true)
	all, _ := io.ReadAll(body)
	slow := newSlowBody(all)
	web2 := e.c.Proc("web2")
	direct := newClient("http://" + web2.Addr)
	direct.token = p.token
	type result struct {
		r   response
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := direct.call(context.Background(), "POST", "/api/videos/upload", slow, ct)
		done <- result{r, err}
	}()
	<-slow.sent
	waitUntil(t, "web2 spooling the upload", 30*time.Second, func() bool { return len(spooled(e)) > 0 })
	outBefore := lbLogCount(e, `"msg":"node out of service"`, `"node":"web2"`)
	if err := e.c.Signal("web2", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	t.Log("web2 got SIGTERM with half of an upload received")
	tookOut := waitUntil(t, "web2 out of service", 10*time.Second, func() bool {
		return lbLogCount(e, `"msg":"node out of service"`, `"node":"web2"`) > outBefore
	})
	t.Logf("the load balancer took web2 out of service %.1f s after SIGTERM", tookOut.Seconds())
	// New requests go to web1 meanwhile.
	lbClient := newClient(e.c.URL)
	for range 6 {
		lbClient.must(t, http.StatusOK, "GET", "/api/public/rankings", nil)
	}
	close(slow.proceed)
	res := <-done
	if res.err != nil || res.r.status != http.StatusCreated {
		t.Fatalf("upload in flight on the stopping node: %v %d %s", res.err, res.r.status, res.r.body)
	}
	if err := web2.Wait(40 * time.Second); err != nil {
		t.Fatalf("web2 after draining: %v", err)
	}
	if lbClient.backends["web2"] > 0 {
		t.Errorf("the stopping node got new requests: %v", lbClient.backends)
	}
	t.Logf("the upload in flight completed (201), web2 exited cleanly, new requests went to %v", lbClient.backends)
	var out struct {
		VideoID string `json:"video_id"`
	}
	res.r.json(t, &out)
	if _, err := e.c.StartWeb(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	p.waitStatus(t, out.VideoID, "processed", 2*time.Minute)
}

func testBurst(t *testing.T, e *env) {
	const clients, perClient = 10, 3
	players := make([]*player, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { players[i] = signUp(t, e.c.URL, "Jugador", fmt.Sprint(i+1), "Manizales") })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	start := time.Now()
	var mu sync.Mutex
	var ids []string
	for i, p := range players {
		wg.Go(func() {
			for j := range perClient {
				id := p.upload(t, e.clip, fmt.Sprintf("Ráfaga %d-%d", i+1, j+1))
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	uploaded := time.Since(start)
	if len(ids) != clients*perClient {
		t.Fatalf("%d uploads accepted, want %d", len(ids), clients*perClient)
	}

	ctx := context.Background()
	deadline := time.Now().Add(6 * time.Minute)
	var processed int
	for {
		if err := e.db.QueryRow(ctx, "SELECT count(*) FROM videos WHERE id = ANY($1) AND status = 'processed'", ids).Scan(&processed); err != nil {
			t.Fatal(err)
		}
		if processed == len(ids) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	var lastDone time.Time
	var totalAttempts int
	if err := e.db.QueryRow(ctx, "SELECT max(processed_at), sum(attempts) FROM videos WHERE id = ANY($1)", ids).Scan(&lastDone, &totalAttempts); err != nil {
		t.Fatal(err)
	}
	elapsed := lastDone.Sub(start)
	if processed != len(ids) {
		t.Fatalf("%d of %d videos processed after 6 minutes", processed, len(ids))
	}

	// Each stored once: one processed file per video, and one "video
	// processed" per video in the worker logs.
	stored := map[string]bool{}
	pager := s3.NewListObjectsV2Paginator(e.c.S3, &s3.ListObjectsV2Input{Bucket: &e.c.Bucket, Prefix: aws.String("processed/")})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			stored[aws.ToString(o.Key)] = true
		}
	}
	var missing, twice []string
	for _, id := range ids {
		if !stored[blob.ProcessedKey(id)] {
			missing = append(missing, id)
		}
		if n := processedCount(e, id); n != 1 {
			twice = append(twice, fmt.Sprintf("%s×%d", id, n))
		}
	}
	sort.Strings(twice)
	if len(missing) > 0 || len(twice) > 0 {
		t.Errorf("processed files missing for %v; videos not processed exactly once: %v", missing, twice)
	}
	queueEmpty(t, e)
	t.Logf("burst: %d videos from %d concurrent clients; uploads accepted in %.1f s; all %d processed %.1f s after the first upload (%.1f videos/min with %d workers); longest job %.1f s (lease %s, renewed by heartbeats); %d redeliveries; each stored once; none lost",
		len(ids), clients, uploaded.Seconds(), processed, elapsed.Seconds(), float64(len(ids))/elapsed.Minutes(), len(e.c.Procs("worker")),
		longestJob(e, ids), visibility, totalAttempts-len(ids))
}
