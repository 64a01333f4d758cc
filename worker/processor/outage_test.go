package processor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anb/risingstars/app/awstest"
	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/mp4/mediatest"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/queue/sqstest"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
	"github.com/anb/risingstars/app/videos"
	"github.com/anb/risingstars/worker/processor"
	"github.com/google/uuid"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// countingConsumer records every receive: when, and the receive count the
// queue reports for the task.
type countingConsumer struct {
	queue.Consumer
	mu       sync.Mutex
	receives []receipt
}

type receipt struct {
	at    time.Time
	video string
	count int
}

func (c *countingConsumer) Receive(ctx context.Context) (queue.Delivery, error) {
	d, err := c.Consumer.Receive(ctx)
	if err == nil {
		c.mu.Lock()
		c.receives = append(c.receives, receipt{time.Now(), d.Task().VideoID, d.Attempt()})
		c.mu.Unlock()
	}
	return d, err
}

// between counts the receives in [from, to).
func (c *countingConsumer) between(from, to time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.receives {
		if !r.at.Before(from) && r.at.Before(to) {
			n++
		}
	}
	return n
}

// counts is the highest receive count the queue reported for each video.
func (c *countingConsumer) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, r := range c.receives {
		out[r.video] = max(out[r.video], r.count)
	}
	return out
}

// A database outage must not use up the tasks' receives: the queue moves a
// task to the dead-letter queue after a fixed number of them, and its
// video is then failed for good. Here the redrive limit is 3 receives and
// PostgreSQL is cut for 8 s: a worker that handed tasks back and received
// them again every second (the delay rounds up to SQS's one second) would
// dead-letter every queued video within the cut. A paused worker receives
// nothing until the database answers, so the cut may last any time.
func TestADatabaseOutageOfAnyLengthSpendsNoReceives(t *testing.T) {
	db, link := storetest.OpenPostgresBehindLink(t)
	db.Store.SetTimeout(500 * time.Millisecond)
	ctx := context.Background()
	client := sqstest.New(t)
	const redrive, visibility = 3, 30 * time.Second
	url, dlq, err := sqstest.CreateQueuesWithRedrive(ctx, client, "tasks", visibility, redrive)
	if err != nil {
		t.Fatal(err)
	}
	q := queue.NewSQS(client, url, dlq, visibility)
	dir := t.TempDir()
	blobs, err := blob.NewDisk(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{FirstName: "Ana", LastName: "Pérez", Email: "ana@example.com", PasswordHash: "x", City: "Cali", Country: "CO"}
	if err := db.Store.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	const queued = 3
	var ids []string
	src := filepath.Join(dir, "in.mp4")
	os.WriteFile(src, []byte("original bytes"), 0o644)
	for range queued {
		v := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: u.ID, Title: "t", IsPublic: true}
		if err := blobs.PutFile(ctx, blob.OriginalKey(v.ID), src); err != nil {
			t.Fatal(err)
		}
		if err := db.Store.CreateVideo(ctx, &v); err != nil {
			t.Fatal(err)
		}
		if err := q.Publish(ctx, queue.Task{TaskID: v.TaskID, VideoID: v.ID}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	proc := &processor.Processor{Videos: &videos.Processing{Store: db.Store, Files: blobs, Log: log}, Blobs: blobs, Media: mediatest.Copy{},
		TempDir: dir, Log: log, Database: db.Store.Ping, Storage: blobs.Ping,
		Backoff: processor.BackoffFrom(time.Second), HandBack: processor.HandBackFrom(time.Second), Pause: processor.PauseFrom(time.Second),
		Visibility: visibility, ShutdownGrace: time.Second}
	consumer := &countingConsumer{Consumer: q}

	const workers, cut = 2, 8 * time.Second
	link.Cut()
	cutAt := time.Now()
	run, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { proc.Run(run, consumer, workers) })
	wg.Go(func() { proc.SweepDeadLetters(run, q) })
	defer func() { stop(); wg.Wait() }()
	time.Sleep(cut / 2)
	firstHalf := consumer.between(cutAt, time.Now())
	time.Sleep(cut - time.Since(cutAt))
	link.Restore(t)
	restoredAt := time.Now()
	during := consumer.between(cutAt, restoredAt)

	statuses := func() map[string]int {
		out := map[string]int{}
		for _, id := range ids {
			v, err := db.Store.Video(ctx, id)
			if err != nil {
				out["error: "+err.Error()]++
				continue
			}
			out[v.Status]++
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for st := statuses(); st[store.StatusProcessed] != queued && st[store.StatusFailed] == 0 && time.Now().Before(deadline); st = statuses() {
		time.Sleep(50 * time.Millisecond)
	}
	settled := time.Since(restoredAt)
	final := statuses()
	counts := consumer.counts()
	t.Logf("PostgreSQL cut %s, %d queued videos, %d workers, redrive after %d receives: %d receives in the first half of the cut, %d in all of it; every video %v %.1f s after the return; receive counts per video %v",
		cut, queued, workers, redrive, firstHalf, during, final, settled.Seconds(), counts)
	if final[store.StatusProcessed] != queued {
		t.Fatalf("videos after the outage: %v, want all %d processed (a failed one was dead-lettered by the outage)", final, queued)
	}
	// Each worker meets the outage with at most the task it holds; then it
	// receives nothing more until the database answers.
	if during > workers || during != firstHalf {
		t.Errorf("%d receives during the cut (%d in its first half), want at most one per worker (%d) and none after the first", during, firstHalf, workers)
	}
	for _, id := range ids {
		v, _ := db.Store.Video(ctx, id)
		if v.Failures != 0 {
			t.Errorf("video %s has %d failures counted for an outage", id, v.Failures)
		}
		if counts[id] > 2 {
			t.Errorf("video %s was received %d times, want at most 2 (one during the cut, one after)", id, counts[id])
		}
	}
}

// flakyStorage fails every read while down is set, as S3 does during an
// outage, and its probe fails with it.
type flakyStorage struct {
	processor.Files
	down   atomic.Bool
	probes atomic.Int32
}

func (s *flakyStorage) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if s.down.Load() {
		return nil, errors.New("operation error S3: GetObject, https response error StatusCode: 503, api error SlowDown")
	}
	return s.Files.Get(ctx, key)
}

func (s *flakyStorage) Ping(context.Context) error {
	s.probes.Add(1)
	if s.down.Load() {
		return fmt.Errorf("S3 bucket: %w", errors.New("StatusCode: 503"))
	}
	return nil
}

// A storage outage pauses the worker the same way: one task meets it, the
// others stay in the queue untouched, and every video is processed once
// the storage answers, none counted as failed.
func TestAStorageOutagePausesTheWorkerUntilTheStorageAnswers(t *testing.T) {
	f := newFixture(t)
	close(f.media.release)
	storage := &flakyStorage{Files: f.blobs}
	storage.down.Store(true)
	f.proc.Blobs, f.proc.Storage = storage, storage.Ping
	var ids []string
	for range 3 {
		ids = append(ids, f.upload(t))
	}
	consumer := &countingConsumer{Consumer: f.q}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.proc.Run(ctx, consumer, 1); close(done) }()
	defer func() { cancel(); <-done }()
	// Paused for 20 probes, unless it goes on receiving instead.
	for deadline := time.Now().Add(10 * time.Second); storage.probes.Load() < 20; time.Sleep(time.Millisecond) {
		if n := consumer.between(time.Time{}, time.Now()); n > 3 || time.Now().After(deadline) {
			t.Fatalf("with the storage down the worker received %d times and probed the storage %d times", n, storage.probes.Load())
		}
	}
	during := consumer.between(time.Time{}, time.Now())
	storage.down.Store(false)
	for _, id := range ids {
		for deadline := time.Now().Add(10 * time.Second); f.status(t, id) != store.StatusProcessed; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("video %s is %s after the storage returned", id, f.status(t, id))
			}
		}
		if v, _ := f.st.Video(context.Background(), id); v.Failures != 0 {
			t.Errorf("video %s: %d failures counted for a storage outage", id, v.Failures)
		}
	}
	if during != 1 {
		t.Errorf("%d receives while the storage was down (over %d probes), want 1", during, storage.probes.Load())
	}
}

// On AWS the worker reads originals from S3, which answers 404 NoSuchKey
// for a missing original (the worker's role may list the originals) and
// 403 when it refuses the read. The first is the video's failure and
// counts; the second, like a 5xx or no answer, is an outage: the task goes
// back uncounted and the worker pauses.
func TestInS3AMissingOriginalCountsButARefusedReadIsAnOutage(t *testing.T) {
	ctx := context.Background()
	backend := s3mem.New()
	backend.CreateBucket("media")
	fake := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	var deny atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if deny.Load() {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s3 := blob.NewS3(awstest.Config(t, "S3", srv.URL), "media")

	f := newFixture(t)
	close(f.media.release)
	f.proc.Blobs, f.proc.Storage = s3, s3.Ping
	src := filepath.Join(t.TempDir(), "in.mp4")
	os.WriteFile(src, []byte("original bytes"), 0o644)

	denied := f.upload(t)
	if err := s3.PutFile(ctx, blob.OriginalKey(denied), src); err != nil {
		t.Fatal(err)
	}
	deny.Store(true)
	d := f.receive(t)
	f.proc.Handle(ctx, d)
	if v, _ := f.st.Video(ctx, denied); v.Failures != 0 || v.Status != store.StatusUploaded || len(d.retries) != 1 {
		t.Fatalf("read refused (403): video %s with %d failures, retries %v; want uploaded, 0 failures, handed back once", v.Status, v.Failures, d.retries)
	}
	deny.Store(false)
	f.proc.Handle(ctx, f.receive(t))
	if v, _ := f.st.Video(ctx, denied); v.Status != store.StatusProcessed || v.Failures != 0 {
		t.Fatalf("after the refusal ended: video %s with %d failures, want processed with none", v.Status, v.Failures)
	}

	missing := f.upload(t) // its original is on disk only: S3 has none
	d = f.receive(t)
	f.proc.Handle(ctx, d)
	v, _ := f.st.Video(ctx, missing)
	if v.Failures != 1 || len(d.retries) != 1 || !strings.Contains(v.Error, "missing") {
		t.Fatalf("missing original (404): %d failures, retries %v, error %q; want 1 counted failure and a retry", v.Failures, d.retries, v.Error)
	}
}
