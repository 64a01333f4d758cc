package processor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
	"github.com/anb/risingstars/app/videos"
	"github.com/anb/risingstars/worker/processor"
	"github.com/google/uuid"
)

// slowMedia copies the input after waiting for release (or ctx), counting runs.
type slowMedia struct {
	runs    atomic.Int32
	started chan struct{}
	release chan struct{}
}

func newSlowMedia() *slowMedia {
	return &slowMedia{started: make(chan struct{}, 10), release: make(chan struct{})}
}

func (m *slowMedia) Transcode(ctx context.Context, in, out, poster string) error {
	m.runs.Add(1)
	m.started <- struct{}{}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-m.release:
	}
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(poster, []byte("jpeg"), 0o644)
}

// recordingDelivery wraps a delivery and records what the processor did.
type recordingDelivery struct {
	queue.Delivery
	mu      sync.Mutex
	acks    int
	retries []time.Duration
	extends int
	dead    int
}

func (d *recordingDelivery) Ack(ctx context.Context) error {
	d.mu.Lock()
	d.acks++
	d.mu.Unlock()
	return d.Delivery.Ack(ctx)
}

func (d *recordingDelivery) Retry(ctx context.Context, delay time.Duration) error {
	d.mu.Lock()
	d.retries = append(d.retries, delay)
	d.mu.Unlock()
	return d.Delivery.Retry(ctx, delay)
}

func (d *recordingDelivery) Extend(ctx context.Context, v time.Duration) error {
	d.mu.Lock()
	d.extends++
	d.mu.Unlock()
	return d.Delivery.Extend(ctx, v)
}

func (d *recordingDelivery) extendCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.extends
}

func (d *recordingDelivery) DeadLetter(ctx context.Context) error {
	d.mu.Lock()
	d.dead++
	d.mu.Unlock()
	return d.Delivery.DeadLetter(ctx)
}

type fixture struct {
	st    *store.Store
	blobs *blob.Disk
	q     *queue.Local
	proc  *processor.Processor
	media *slowMedia
	owner int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := storetest.Open(t, "sqlite")
	dir := t.TempDir()
	blobs, err := blob.NewDisk(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{FirstName: "Ana", LastName: "Pérez", Email: "ana@example.com", PasswordHash: "x", City: "Cali", Country: "CO"}
	if err := db.Store.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	media := newSlowMedia()
	f := &fixture{st: db.Store, blobs: blobs, q: queue.NewLocal(), media: media, owner: u.ID}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.proc = &processor.Processor{Videos: &videos.Processing{Store: db.Store, Files: blobs, Log: log}, Blobs: blobs, Media: media, TempDir: dir,
		Log: log, Backoff: func(int) time.Duration { return time.Millisecond },
		HandBack: processor.Wait{First: time.Millisecond, Max: 4 * time.Millisecond}, Pause: processor.Wait{First: time.Millisecond, Max: 5 * time.Millisecond},
		Database: db.Store.Ping, Storage: blobs.Ping,
		Visibility: 30 * time.Millisecond, ShutdownGrace: 50 * time.Millisecond}
	return f
}

// upload stores a video as the API does and returns its id.
func (f *fixture) upload(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	v := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: f.owner, Title: "t", IsPublic: true}
	src := filepath.Join(t.TempDir(), "in.mp4")
	os.WriteFile(src, []byte("original bytes"), 0o644)
	if err := f.blobs.PutFile(ctx, blob.OriginalKey(v.ID), src); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateVideo(ctx, &v); err != nil {
		t.Fatal(err)
	}
	f.q.Publish(ctx, queue.Task{TaskID: v.TaskID, VideoID: v.ID})
	return v.ID
}

func (f *fixture) receive(t *testing.T) *recordingDelivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d, err := f.q.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &recordingDelivery{Delivery: d}
}

func (f *fixture) status(t *testing.T, id string) string {
	t.Helper()
	v, err := f.st.Video(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return "deleted"
	}
	if err != nil {
		t.Fatal(err)
	}
	return v.Status
}

func exists(b *blob.Disk, key string) bool {
	r, err := b.Get(context.Background(), key)
	if err == nil {
		r.Close()
	}
	return err == nil
}

func TestRedeliveryOfAProcessedVideoIsSkipped(t *testing.T) {
	f := newFixture(t)
	id := f.upload(t)
	close(f.media.release)
	d := f.receive(t)
	f.proc.Handle(context.Background(), d)
	if got := f.status(t, id); got != store.StatusProcessed || d.acks != 1 {
		t.Fatalf("first delivery: status %s, acks %d", got, d.acks)
	}
	f.q.Publish(context.Background(), d.Task()) // at-least-once: the same task again
	again := f.receive(t)
	f.proc.Handle(context.Background(), again)
	if runs := f.media.runs.Load(); runs != 1 || again.acks != 1 {
		t.Fatalf("redelivery ran the pipeline (%d runs) or was not acked (%d)", runs, again.acks)
	}
}

func TestTaskOfADeletedVideoIsSkipped(t *testing.T) {
	f := newFixture(t)
	id := f.upload(t)
	if _, err := f.st.DeleteVideo(context.Background(), id, f.owner); err != nil {
		t.Fatal(err)
	}
	d := f.receive(t)
	f.proc.Handle(context.Background(), d)
	if f.media.runs.Load() != 0 || d.acks != 1 {
		t.Fatalf("deleted video: %d runs, %d acks; want 0, 1", f.media.runs.Load(), d.acks)
	}
}

func TestVideoDeletedWhileProcessingLeavesNoFiles(t *testing.T) {
	f := newFixture(t)
	id := f.upload(t)
	d := f.receive(t)
	done := make(chan struct{})
	go func() { f.proc.Handle(context.Background(), d); close(done) }()
	<-f.media.started
	if _, err := f.st.DeleteVideo(context.Background(), id, f.owner); err != nil {
		t.Fatal(err)
	}
	close(f.media.release)
	<-done
	if d.acks != 1 || exists(f.blobs, blob.ProcessedKey(id)) || exists(f.blobs, blob.PosterKey(id)) {
		t.Fatalf("acks %d, processed left %v, poster left %v", d.acks, exists(f.blobs, blob.ProcessedKey(id)), exists(f.blobs, blob.PosterKey(id)))
	}
}

func TestLongJobsKeepExtendingVisibility(t *testing.T) {
	f := newFixture(t)
	f.upload(t)
	d := f.receive(t)
	done := make(chan struct{})
	go func() { f.proc.Handle(context.Background(), d); close(done) }()
	<-f.media.started
	// The job runs until the task was extended three times (Visibility/3 = 10 ms each).
	for deadline := time.Now().Add(10 * time.Second); d.extendCount() < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a running job extended its task only %d times in 10 s", d.extendCount())
		}
	}
	close(f.media.release)
	<-done
	if d.acks != 1 {
		t.Fatalf("acks = %d, want 1", d.acks)
	}
}

func TestShutdownReleasesTheJobInHand(t *testing.T) {
	f := newFixture(t)
	id := f.upload(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.proc.Run(ctx, f.q, 1); close(done) }()
	<-f.media.started
	cancel() // SIGTERM: the job never finishes, so the grace period runs out
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after shutdown")
	}
	if got := f.status(t, id); got != store.StatusUploaded {
		t.Fatalf("released video is %s, want uploaded", got)
	}
	if f.q.Len() != 1 {
		t.Fatalf("released task not back in the queue (len %d)", f.q.Len())
	}
}

func TestShutdownLetsAShortJobFinish(t *testing.T) {
	f := newFixture(t)
	f.proc.ShutdownGrace = 5 * time.Second
	id := f.upload(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.proc.Run(ctx, f.q, 1); close(done) }()
	<-f.media.started
	cancel()
	time.Sleep(20 * time.Millisecond)
	close(f.media.release)
	<-done
	if got := f.status(t, id); got != store.StatusProcessed {
		t.Fatalf("video is %s, want processed", got)
	}
}

type brokenMedia struct{}

func (brokenMedia) Transcode(context.Context, string, string, string) error {
	return errors.New("moov atom not found")
}

func TestThirdFailureMarksFailedAndDeadLetters(t *testing.T) {
	f := newFixture(t)
	f.proc.Media = brokenMedia{}
	id := f.upload(t)
	var deliveries []*recordingDelivery
	for attempt := 1; attempt <= nodespec.MaxProcessingAttempts; attempt++ {
		d := f.receive(t)
		f.proc.Handle(context.Background(), d)
		deliveries = append(deliveries, d)
		want := store.StatusUploaded
		if attempt == nodespec.MaxProcessingAttempts {
			want = store.StatusFailed
		}
		if got := f.status(t, id); got != want {
			t.Fatalf("after attempt %d the video is %s, want %s", attempt, got, want)
		}
	}
	if len(deliveries[0].retries) != 1 || len(deliveries[1].retries) != 1 || deliveries[2].dead != 1 || len(deliveries[2].retries) != 0 {
		t.Fatalf("retries/dead letters: %+v %+v %+v", deliveries[0].retries, deliveries[1].retries, deliveries[2].dead)
	}
	v, _ := f.st.Video(context.Background(), id)
	if v.Failures != nodespec.MaxProcessingAttempts || v.Error == "" {
		t.Fatalf("failed video: failures %d, error %q", v.Failures, v.Error)
	}
	if dead := f.q.Dead(); len(dead) != 1 || dead[0].VideoID != id {
		t.Fatalf("dead letters = %v", dead)
	}
}

// A worker stopped mid-job (deploy, scale-in) hands the task back; however
// often that happens, it is not a processing failure.
func TestInterruptionsNeverCountAsFailures(t *testing.T) {
	f := newFixture(t)
	id := f.upload(t)
	const interruptions = nodespec.MaxProcessingAttempts + 2
	for i := 0; i < interruptions; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { f.proc.Run(ctx, f.q, 1); close(done) }()
		<-f.media.started
		cancel()
		<-done
		if got := f.status(t, id); got != store.StatusUploaded {
			t.Fatalf("after interruption %d the video is %s, want uploaded", i+1, got)
		}
	}
	close(f.media.release)
	f.proc.Handle(context.Background(), f.receive(t))
	v, err := f.st.Video(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != store.StatusProcessed || v.Failures != 0 || v.Attempts != interruptions+1 {
		t.Fatalf("video %s with %d failures after %d starts; want processed, 0 failures, %d starts", v.Status, v.Failures, v.Attempts, interruptions+1)
	}
}

// flakyMedia fails its first run and then behaves.
type flakyMedia struct {
	*slowMedia
	failed atomic.Bool
}

func (m *flakyMedia) Transcode(ctx context.Context, in, out, poster string) error {
	if m.failed.CompareAndSwap(false, true) {
		return errors.New("ffmpeg killed by signal 9")
	}
	return m.slowMedia.Transcode(ctx, in, out, poster)
}

func TestAFailureAndInterruptionsStillLeaveTwoAttempts(t *testing.T) {
	f := newFixture(t)
	media := &flakyMedia{slowMedia: f.media}
	f.proc.Media = media
	id := f.upload(t)
	f.proc.Handle(context.Background(), f.receive(t)) // real failure 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.proc.Run(ctx, f.q, 1); close(done) }()
	<-f.media.started
	cancel() // interrupted: not counted
	<-done
	close(f.media.release)
	f.proc.Handle(context.Background(), f.receive(t))
	v, _ := f.st.Video(context.Background(), id)
	if v.Status != store.StatusProcessed || v.Failures != 1 {
		t.Fatalf("video %s with %d failures; want processed with 1", v.Status, v.Failures)
	}
}

// deadQueue hands out dead-lettered tasks from a local queue.
type deadQueue struct{ q *queue.Local }

func (d deadQueue) ReceiveDead(ctx context.Context) (queue.Delivery, error) { return d.q.Receive(ctx) }

func TestDeadLetteredTasksEndTheirVideoFailed(t *testing.T) {
	f := newFixture(t)
	id := f.upload(t)
	f.receive(t) // the queue gave up on it: it sits in the dead-letter queue
	dead := queue.NewLocal()
	dead.Publish(context.Background(), queue.Task{TaskID: "t", VideoID: id})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.proc.SweepDeadLetters(ctx, deadQueue{dead})
	for deadline := time.Now().Add(10 * time.Second); f.status(t, id) != store.StatusFailed; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("dead-lettered video is still %s", f.status(t, id))
		}
	}
	v, _ := f.st.Video(context.Background(), id)
	if v.Error != videos.DeadLetterReason {
		t.Fatalf("reason = %q", v.Error)
	}
}

// unreachable is a database that does not answer.
type unreachable struct{ processor.Videos }

func (unreachable) Start(context.Context, string) (store.Video, error) {
	return store.Video{}, fmt.Errorf("begin processing: %w", store.ErrUnavailable)
}

// Each time a task meets the outage again it waits twice as long, up to
// the cap, and nothing counts against the video.
func TestAnUnreachableDatabaseHandsTheTaskBackUncountedWithGrowingDelays(t *testing.T) {
	f := newFixture(t)
	id := f.upload(t)
	f.proc.Videos = unreachable{}
	var delays []time.Duration
	for range 4 {
		d := f.receive(t)
		f.proc.Handle(context.Background(), d)
		if len(d.retries) != 1 || d.acks != 0 || d.dead != 0 || f.media.runs.Load() != 0 {
			t.Fatalf("delivery %d: retries %v, acks %d, dead %d, runs %d; want one retry and nothing else", d.Attempt(), d.retries, d.acks, d.dead, f.media.runs.Load())
		}
		delays = append(delays, d.retries[0])
	}
	ms := time.Millisecond
	if want := []time.Duration{ms, 2 * ms, 4 * ms, 4 * ms}; !slices.Equal(delays, want) {
		t.Fatalf("hand-back delays %v, want %v (doubling from HandBack.First up to HandBack.Max)", delays, want)
	}
	if v, _ := f.st.Video(context.Background(), id); v.Failures != 0 || v.Status != store.StatusUploaded {
		t.Fatalf("video %s with %d failures", v.Status, v.Failures)
	}
}

func TestWaitDoublesUpToItsCap(t *testing.T) {
	w := processor.Wait{First: time.Second, Max: 10 * time.Second}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, w.After(n))
	}
	s := time.Second
	if want := []time.Duration{s, 2 * s, 4 * s, 8 * s, 10 * s, 10 * s}; !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	if got, want := processor.DefaultPause, (processor.Wait{First: time.Second, Max: 10 * time.Second}); got != want {
		t.Errorf("default pause %+v, want %+v (the README's figures)", got, want)
	}
	if got, want := processor.DefaultHandBack, (processor.Wait{First: 10 * time.Second, Max: time.Minute}); got != want {
		t.Errorf("default hand-back %+v, want %+v (the README's figures)", got, want)
	}
}

// storageDown is a video storage that does not answer.
type storageDown struct{ processor.Files }

func (storageDown) Get(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("operation error S3: GetObject, dial tcp 127.0.0.1:9000: connect: connection refused")
}

func TestAStorageOutageIsNotTheVideosFailureButAMissingOriginalIs(t *testing.T) {
	f := newFixture(t)
	id := f.upload(t)
	f.proc.Blobs = storageDown{f.blobs}
	d := f.receive(t)
	f.proc.Handle(context.Background(), d)
	if v, _ := f.st.Video(context.Background(), id); v.Failures != 0 || v.Status != store.StatusUploaded || len(d.retries) != 1 {
		t.Fatalf("storage outage: video %s with %d failures, retries %v; want uploaded, 0, one retry", v.Status, v.Failures, d.retries)
	}

	f.proc.Blobs = f.blobs
	if err := f.blobs.Delete(context.Background(), blob.OriginalKey(id)); err != nil {
		t.Fatal(err)
	}
	f.proc.Handle(context.Background(), f.receive(t))
	if v, _ := f.st.Video(context.Background(), id); v.Failures != 1 {
		t.Fatalf("missing original: %d failures, want 1", v.Failures)
	}
}
