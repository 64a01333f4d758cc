// Package processor turns queued tasks into processed videos: it moves each
// video through its statuses, runs the media pipeline and decides between
// retrying and giving up.
package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/config"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/videos"
	"github.com/anb/risingstars/worker/media"
)

// Videos is the processing state machine of the videos (videos.Processing).
type Videos interface {
	Start(ctx context.Context, id string) (store.Video, error)
	Finish(ctx context.Context, id string, took time.Duration) error
	Fail(ctx context.Context, id string, cause error) (videos.Verdict, error)
	Interrupt(ctx context.Context, id string) error
	DeadLettered(ctx context.Context, id string) error
}

// Files is the video storage a job reads the original from and writes the
// results to.
type Files interface {
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	PutFile(ctx context.Context, key, path string) error
}

// Transcoder runs the media pipeline on local files.
type Transcoder interface {
	Transcode(ctx context.Context, in, out, poster string) error
}

// Processor handles tasks. The zero values of the durations pick the defaults.
type Processor struct {
	Videos  Videos
	Blobs   Files
	Media   Transcoder
	TempDir string
	Log     *slog.Logger

	// Database and Storage tell whether the database and the video storage
	// answer. A worker whose job met an outage of one of them hands its task
	// back and takes no other until the probe succeeds, so an outage of any
	// length costs a task at most one receive per worker, never its place
	// in the queue (the queue's redrive counts receives). Nil: not probed.
	Database, Storage Probe

	// Backoff is the delay before the next attempt after a real (counted)
	// failure.
	Backoff func(attempt int) time.Duration
	// HandBack is the delay of a task handed back uncounted (an outage or
	// an unexpected error), growing with the task's receives so a task that
	// keeps coming back costs ever fewer of them. Default DefaultHandBack.
	HandBack Wait
	// Pause is how often a worker paused by an outage probes the dependency
	// (and how often it retries a queue that does not answer).
	// Default DefaultPause.
	Pause Wait
	// Visibility is how long a received task stays hidden from other
	// workers; a running job renews it every Visibility/3.
	Visibility time.Duration
	// ShutdownGrace is how long a job in hand may still run after shutdown
	// starts before it is stopped and released to another worker.
	// Default nodespec.ShutdownGrace.
	ShutdownGrace time.Duration
	// Stall is how long a receiving loop may go without a sign of life
	// (a poll, a lease renewal, a probe) before Alive reports the worker
	// wedged. Default: twice the longest legitimate gap (StallAfter).
	Stall time.Duration

	paused pause
	beats  beats
}

// Probe tells whether a dependency answers: nil when it does.
type Probe func(ctx context.Context) error

// Wait is an exponential backoff: First, then twice as long each time, at
// most Max.
type Wait struct{ First, Max time.Duration }

// After is the wait after the n-th consecutive try (n >= 1).
func (w Wait) After(n int) time.Duration {
	d := w.First
	for i := 1; i < n && d < w.Max; i++ {
		d *= 2
	}
	return min(d, w.Max)
}

func (w Wait) or(def Wait) Wait {
	if w.First <= 0 || w.Max <= 0 {
		return def
	}
	return w
}

// The waits on AWS, from RetryBaseDelay (10 s): a paused worker probes
// after 1 s, 2 s, 4 s, 8 s, then every 10 s, so it resumes at most 10 s
// after the dependency returns; a task handed back uncounted waits 10 s,
// 20 s, 40 s, then a minute, by receive.
var (
	DefaultPause    = PauseFrom(nodespec.RetryBaseDelay)
	DefaultHandBack = HandBackFrom(nodespec.RetryBaseDelay)
)

// PauseFrom is the probing schedule of a paused worker for a retry base
// delay (ANB_RETRY_BASE_DELAY): a tenth of it first, at most all of it.
func PauseFrom(base time.Duration) Wait { return Wait{First: base / 10, Max: base} }

// HandBackFrom is the delay of an uncounted hand-back for a retry base
// delay: the base first, at most six times it.
func HandBackFrom(base time.Duration) Wait { return Wait{First: base, Max: 6 * base} }

// Store is the database as a worker uses it.
type Store interface {
	videos.ProcessingStore
	Ping(ctx context.Context) error
}

// New is the processor both binaries run (the worker, and the API's
// in-process workers in local mode), configured from cfg.
func New(cfg config.Config, st Store, blobs blob.Store, workDir string, log *slog.Logger) *Processor {
	return &Processor{Videos: &videos.Processing{Store: st, Files: blobs, Log: log}, Blobs: blobs, Media: &media.Pipeline{FFmpeg: cfg.FFmpeg}, TempDir: workDir, Log: log,
		Database: st.Ping, Storage: blobs.Ping,
		Visibility: cfg.SQSVisibility, Backoff: BackoffFrom(cfg.RetryBaseDelay), ShutdownGrace: cfg.ShutdownGrace,
		Pause: PauseFrom(cfg.RetryBaseDelay), HandBack: HandBackFrom(cfg.RetryBaseDelay)}
}

// DefaultBackoff waits nodespec.RetryBaseDelay, then three times as long.
func DefaultBackoff(attempt int) time.Duration { return BackoffFrom(nodespec.RetryBaseDelay)(attempt) }

// BackoffFrom waits base after the first failed attempt and three times
// longer after each next one (ANB_RETRY_BASE_DELAY sets base).
func BackoffFrom(base time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt; i++ {
			d *= 3
		}
		return d
	}
}

func (p *Processor) backoff(attempt int) time.Duration {
	if p.Backoff != nil {
		return p.Backoff(attempt)
	}
	return DefaultBackoff(attempt)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Run receives tasks with n concurrent workers until ctx ends, then lets the
// jobs in hand finish within ShutdownGrace (or releases them) and returns.
// While a dependency is down, no worker receives (see Processor.Database).
func (p *Processor) Run(ctx context.Context, c queue.Consumer, n int) {
	// Jobs outlive ctx by the grace period, so they get their own context.
	jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	go func() {
		<-ctx.Done()
		time.AfterFunc(orDefault(p.ShutdownGrace, nodespec.ShutdownGrace), stopJobs)
	}()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop := p.beats.add()
			defer p.beats.remove(loop)
			ctx := withLoop(ctx, loop)
			jobCtx := withLoop(jobCtx, loop)
			failures := 0 // consecutive failed receives
			for p.beat(ctx); p.resume(ctx); p.beat(ctx) {
				d, err := c.Receive(ctx)
				if ctx.Err() != nil {
					if d != nil {
						p.release(d, 0, "worker stopping")
					}
					return
				}
				if err != nil {
					failures++
					wait := p.Pause.or(DefaultPause).After(failures)
					p.Log.Error("receive task failed", "error", err, "retry_in_s", wait.Seconds())
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
					continue
				}
				failures = 0
				if d != nil { // nil: a poll ended empty
					p.Handle(jobCtx, d)
				}
			}
		}()
	}
	wg.Wait()
}

// beats is the last sign of life of each receiving loop.
type beats struct {
	mu   sync.Mutex
	next int
	last map[int]time.Time
}

func (b *beats) add() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		b.last = map[int]time.Time{}
	}
	b.next++
	b.last[b.next] = time.Now()
	return b.next
}

func (b *beats) remove(loop int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.last, loop)
}

type loopKey struct{}

func withLoop(ctx context.Context, loop int) context.Context {
	return context.WithValue(ctx, loopKey{}, loop)
}

// beat records a sign of life of the receiving loop ctx belongs to.
func (p *Processor) beat(ctx context.Context) {
	loop, ok := ctx.Value(loopKey{}).(int)
	if !ok {
		return
	}
	p.beats.mu.Lock()
	defer p.beats.mu.Unlock()
	if _, running := p.beats.last[loop]; running {
		p.beats.last[loop] = time.Now()
	}
}

// StallAfter is twice the longest gap between two signs of life of a
// healthy receiving loop: a long poll, a lease renewal (a third of the
// visibility), a probe while paused (its wait plus its 10 s timeout), or a
// hand-back (reset and release, 10 s each). On AWS: 2 x 40 s.
func StallAfter(visibility time.Duration, pause Wait) time.Duration {
	return 2 * max(nodespec.LongPollSeconds*time.Second, visibility/3, pause.Max+10*time.Second, 20*time.Second)
}

// Alive tells whether every receiving loop showed a sign of life within
// Stall: false means one is wedged (a poll or a job that never returns) and
// the process should be restarted. True when Run is not running.
func (p *Processor) Alive(context.Context) bool {
	stall := p.Stall
	if stall <= 0 {
		stall = StallAfter(orDefault(p.Visibility, nodespec.Visibility), p.Pause.or(DefaultPause))
	}
	p.beats.mu.Lock()
	defer p.beats.mu.Unlock()
	for _, last := range p.beats.last {
		if time.Since(last) > stall {
			return false
		}
	}
	return true
}

// pause is the set of dependencies a job found down.
type pause struct {
	mu     sync.Mutex
	down   map[string]Probe
	since  time.Time
	logged bool // "worker paused" written for this pause
}

// pauseFor stops the receivers until probe succeeds; without a probe the
// dependency cannot be watched and nothing pauses.
func (p *Processor) pauseFor(dependency string, probe Probe) {
	if probe == nil {
		return
	}
	p.paused.mu.Lock()
	defer p.paused.mu.Unlock()
	if len(p.paused.down) == 0 {
		p.paused.down = map[string]Probe{}
		p.paused.since = time.Now()
		p.paused.logged = false
	}
	p.paused.down[dependency] = probe
}

// downNow is the dependencies still down; first is true for the one caller
// that should announce the pause.
func (p *Processor) downNow() (down map[string]Probe, since time.Time, first bool) {
	p.paused.mu.Lock()
	defer p.paused.mu.Unlock()
	first = len(p.paused.down) > 0 && !p.paused.logged
	p.paused.logged = p.paused.logged || first
	return maps.Clone(p.paused.down), p.paused.since, first
}

// up clears a dependency that answered; true if this call cleared it.
func (p *Processor) up(dependency string) bool {
	p.paused.mu.Lock()
	defer p.paused.mu.Unlock()
	_, was := p.paused.down[dependency]
	delete(p.paused.down, dependency)
	return was
}

// resume returns once no dependency is known to be down, probing those
// that are with exponential backoff; false when ctx ended first.
func (p *Processor) resume(ctx context.Context) bool {
	wait := p.Pause.or(DefaultPause)
	for probes := 0; ; {
		down, since, first := p.downNow()
		if len(down) == 0 || ctx.Err() != nil {
			return ctx.Err() == nil
		}
		if first {
			p.Log.Warn("worker paused: takes no task until its dependencies answer", "down", slices.Sorted(maps.Keys(down)))
		}
		probes++
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait.After(probes)):
		}
		for name, probe := range down {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := probe(pctx)
			cancel()
			if err == nil && p.up(name) {
				p.Log.Info("worker resumed: dependency answers again", "dependency", name, "paused_s", time.Since(since).Seconds(), "probes", probes)
			}
		}
		p.beat(ctx)
	}
}

// outage names the dependency an error says is down, or "".
func outage(err error) string {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return "database"
	case errors.As(err, new(storageOutage)):
		return "video storage"
	}
	return ""
}

// giveBack hands a task back uncounted after an error that is not the
// video's: an outage (then the worker pauses until the dependency answers)
// or an unexpected error. The delay grows with the task's receives, so only
// a task that keeps failing this way ever reaches the queue's redrive.
// reset puts a video left in processing back in the queue state.
func (p *Processor) giveBack(d queue.Delivery, id string, log *slog.Logger, what string, err error, reset bool) {
	delay := p.HandBack.or(DefaultHandBack).After(d.Attempt())
	why := what + " failed"
	switch dep := outage(err); dep {
	case "database":
		p.pauseFor(dep, p.Database)
		why = dep + " unavailable"
	case "video storage":
		p.pauseFor(dep, p.Storage)
		why = dep + " unavailable"
	}
	log.Error(what+" failed; task handed back uncounted", "error", err, "retry_in_s", delay.Seconds())
	if reset {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := p.Videos.Interrupt(ctx, id); err != nil {
			log.Error("reset status failed", "error", err)
		}
		cancel()
	}
	p.release(d, delay, why)
}

// release hands a task back for another worker without counting it as failed.
func (p *Processor) release(d queue.Delivery, delay time.Duration, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Retry(ctx, delay); err != nil {
		p.Log.Error("release task failed; it reappears when its visibility ends", "video_id", d.Task().VideoID, "error", err)
		return
	}
	p.Log.Info("task released", "video_id", d.Task().VideoID, "reason", why, "delivery", d.Attempt(), "retry_in_s", delay.Seconds())
}

// Handle processes one delivery. It never returns an error: every outcome
// ends in an ack, a retry, a release or a dead letter. What an outcome means
// for the video is videos.Processing's business; here it becomes a queue
// action. A dependency that cannot be reached is nobody's failure: the task
// comes back later, uncounted, and the worker pauses.
func (p *Processor) Handle(ctx context.Context, d queue.Delivery) {
	task := d.Task()
	log := p.Log.With("video_id", task.VideoID, "task_id", task.TaskID, "delivery", d.Attempt())
	log.Info("task received")
	p.beat(ctx)
	v, err := p.Videos.Start(ctx, task.VideoID)
	switch {
	case errors.Is(err, videos.ErrNothingToDo):
		log.Info("task skipped: video deleted or already settled", "status", v.Status)
		p.ack(ctx, d, log)
		return
	case err != nil:
		p.giveBack(d, task.VideoID, log, "start processing", err, false)
		return
	}

	stopHeartbeat := p.heartbeat(ctx, d, log)
	start := time.Now()
	err = p.process(ctx, v.ID)
	stopHeartbeat()

	switch {
	case err == nil:
		if err := p.Videos.Finish(ctx, v.ID, time.Since(start)); err != nil {
			p.giveBack(d, v.ID, log, "record processed video", err, true)
			return
		}
		p.ack(ctx, d, log)
	case ctx.Err() != nil:
		p.interrupt(d, v.ID, log)
	case outage(err) != "":
		p.giveBack(d, v.ID, log, "processing", err, true)
	default:
		p.failed(ctx, d, v.ID, err, log)
	}
}

// interrupt returns a job stopped by a worker shutting down: not the
// video's fault, nothing counts, any worker may take it at once.
func (p *Processor) interrupt(d queue.Delivery, id string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Videos.Interrupt(ctx, id); err != nil {
		log.Error("reset status failed", "error", err)
	}
	p.release(d, 0, "worker stopping")
}

func (p *Processor) failed(ctx context.Context, d queue.Delivery, id string, cause error, log *slog.Logger) {
	verdict, err := p.Videos.Fail(ctx, id, cause)
	switch {
	case errors.Is(err, videos.ErrNothingToDo):
		log.Info("processing failed but the video was deleted or settled meanwhile", "error", cause)
		p.ack(ctx, d, log)
	case err != nil:
		log.Error("processing failed and the failure could not be recorded", "error", cause)
		p.giveBack(d, id, log, "record failure", err, false)
	case verdict.GiveUp:
		log.Error("video failed for good", "error", cause, "failures", verdict.Failures)
		if err := d.DeadLetter(context.WithoutCancel(ctx)); err != nil {
			log.Error("dead-letter failed", "error", err)
		}
	default:
		delay := p.backoff(verdict.Failures)
		log.Warn("processing failed; will retry", "error", cause, "failures", verdict.Failures, "retry_in_s", delay.Seconds())
		p.retry(d, log, delay)
	}
}

// SweepDeadLetters ends failed the video of every task the queue moved to
// its dead-letter queue. The tasks stay there for the operator.
func (p *Processor) SweepDeadLetters(ctx context.Context, dead queue.DeadLetters) {
	for {
		d, err := dead.ReceiveDead(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.Log.Error("receive dead-lettered task failed", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			continue
		}
		log := p.Log.With("video_id", d.Task().VideoID, "task_id", d.Task().TaskID)
		if err := p.Videos.DeadLettered(ctx, d.Task().VideoID); err != nil {
			delay := p.HandBack.or(DefaultHandBack).After(d.Attempt())
			log.Error("mark dead-lettered video failed; will look again", "error", err, "retry_in_s", delay.Seconds())
			p.retry(d, log, delay)
			continue
		}
		log.Warn("dead-lettered task: video marked failed")
	}
}

// process fetches the original, runs the pipeline and stores the results.
func (p *Processor) process(ctx context.Context, id string) error {
	dir, err := os.MkdirTemp(p.TempDir, "job-"+id+"-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	in, out, poster := filepath.Join(dir, "original.mp4"), filepath.Join(dir, "processed.mp4"), filepath.Join(dir, "poster.jpg")
	if err := p.fetch(ctx, blob.OriginalKey(id), in); err != nil {
		return err
	}
	if err := p.Media.Transcode(ctx, in, out, poster); err != nil {
		return err
	}
	if err := p.Blobs.PutFile(ctx, blob.ProcessedKey(id), out); err != nil {
		return storageOutage{fmt.Errorf("store processed video: %w", err)}
	}
	if err := p.Blobs.PutFile(ctx, blob.PosterKey(id), poster); err != nil {
		return storageOutage{fmt.Errorf("store poster: %w", err)}
	}
	return nil
}

// storageOutage marks a job that failed because the video storage did not
// answer: like a database outage, not the video's fault, so not counted. A
// missing original is the video's problem and is counted.
type storageOutage struct{ error }

func (e storageOutage) Unwrap() error { return e.error }

func (p *Processor) fetch(ctx context.Context, key, dst string) error {
	r, err := p.Blobs.Get(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("the original video is missing: %w", err)
	}
	if err != nil {
		return storageOutage{fmt.Errorf("read original video: %w", err)}
	}
	defer r.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return storageOutage{fmt.Errorf("read original video: %w", err)}
	}
	return f.Close()
}

// heartbeat keeps the task invisible while the job runs.
func (p *Processor) heartbeat(ctx context.Context, d queue.Delivery, log *slog.Logger) (stop func()) {
	visibility := orDefault(p.Visibility, nodespec.Visibility)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(visibility / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := d.Extend(ctx, visibility); err != nil && ctx.Err() == nil {
					log.Warn("extend visibility failed", "error", err)
				}
				p.beat(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (p *Processor) ack(ctx context.Context, d queue.Delivery, log *slog.Logger) {
	if err := d.Ack(context.WithoutCancel(ctx)); err != nil {
		log.Error("ack failed; the task will be delivered again and skipped", "error", err)
	}
}

func (p *Processor) retry(d queue.Delivery, log *slog.Logger, delay time.Duration) {
	if err := d.Retry(context.Background(), delay); err != nil {
		log.Error("schedule retry failed; the task reappears when its visibility ends", "error", err)
	}
}
