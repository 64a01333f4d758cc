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
	"os"
	"path/filepath"
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

	// Backoff is the delay before the next attempt after a failed one.
	Backoff func(attempt int) time.Duration
	// Visibility is how long a received task stays hidden from other
	// workers; a running job renews it every Visibility/3.
	Visibility time.Duration
	// ShutdownGrace is how long a job in hand may still run after shutdown
	// starts before it is stopped and released to another worker.
	// Default nodespec.ShutdownGrace.
	ShutdownGrace time.Duration
}

// New is the processor both binaries run (the worker, and the API's
// in-process workers in local mode), configured from cfg.
func New(cfg config.Config, st videos.ProcessingStore, blobs blob.Store, workDir string, log *slog.Logger) *Processor {
	return &Processor{Videos: &videos.Processing{Store: st, Files: blobs, Log: log}, Blobs: blobs, Media: &media.Pipeline{FFmpeg: cfg.FFmpeg}, TempDir: workDir, Log: log,
		Visibility: cfg.SQSVisibility, Backoff: BackoffFrom(cfg.RetryBaseDelay), ShutdownGrace: cfg.ShutdownGrace}
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
			for {
				d, err := c.Receive(ctx)
				if ctx.Err() != nil {
					if d != nil {
						p.release(d, 0, "worker stopping")
					}
					return
				}
				if err != nil {
					p.Log.Error("receive task failed", "error", err)
					select {
					case <-ctx.Done():
						return
					case <-time.After(2 * time.Second):
					}
					continue
				}
				p.Handle(jobCtx, d)
			}
		}()
	}
	wg.Wait()
}

// handBack returns an interrupted job (not the video's fault, nothing
// counts) to the queue, for any worker after delay.
func (p *Processor) handBack(d queue.Delivery, id string, log *slog.Logger, delay time.Duration, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Videos.Interrupt(ctx, id); err != nil {
		log.Error("reset status failed", "error", err)
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
	p.Log.Info("task released", "video_id", d.Task().VideoID, "reason", why)
}

// Handle processes one delivery. It never returns an error: every outcome
// ends in an ack, a retry, a release or a dead letter. What an outcome means
// for the video is videos.Processing's business; here it becomes a queue
// action. A database that cannot be reached is nobody's failure: the task
// comes back later, uncounted.
func (p *Processor) Handle(ctx context.Context, d queue.Delivery) {
	task := d.Task()
	log := p.Log.With("video_id", task.VideoID, "task_id", task.TaskID, "delivery", d.Attempt())
	v, err := p.Videos.Start(ctx, task.VideoID)
	switch {
	case errors.Is(err, videos.ErrNothingToDo):
		log.Info("task skipped: video deleted or already settled", "status", v.Status)
		p.ack(ctx, d, log)
		return
	case err != nil:
		log.Error("start processing failed; task released", "error", err)
		p.retry(d, log, p.backoff(1))
		return
	}

	stopHeartbeat := p.heartbeat(ctx, d, log)
	start := time.Now()
	err = p.process(ctx, v.ID)
	stopHeartbeat()

	switch {
	case err == nil:
		if err := p.Videos.Finish(ctx, v.ID, time.Since(start)); err != nil {
			log.Error("record processed video failed; task released", "error", err)
			p.retry(d, log, p.backoff(1))
			return
		}
		p.ack(ctx, d, log)
	case ctx.Err() != nil:
		p.handBack(d, v.ID, log, 0, "worker stopping")
	case errors.As(err, new(storageOutage)):
		log.Error("video storage unavailable", "error", err)
		p.handBack(d, v.ID, log, p.backoff(1), "video storage unavailable")
	default:
		p.failed(ctx, d, v.ID, err, log)
	}
}

func (p *Processor) failed(ctx context.Context, d queue.Delivery, id string, cause error, log *slog.Logger) {
	verdict, err := p.Videos.Fail(ctx, id, cause)
	switch {
	case errors.Is(err, videos.ErrNothingToDo):
		log.Info("processing failed but the video was deleted or settled meanwhile", "error", cause)
		p.ack(ctx, d, log)
	case err != nil:
		log.Error("processing failed and the failure could not be recorded; task released uncounted", "error", cause, "record_error", err)
		p.retry(d, log, p.backoff(1))
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
			log.Error("mark dead-lettered video failed; will look again", "error", err)
			p.retry(d, log, p.backoff(1))
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
