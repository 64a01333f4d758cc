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
	"strings"
	"sync"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/config"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/worker/media"
)

// Videos is what the processor needs from the database.
type Videos interface {
	BeginProcessing(ctx context.Context, id string) (store.Video, error)
	FinishProcessing(ctx context.Context, id string) error
	ReleaseProcessing(ctx context.Context, id string) error
	RecordFailure(ctx context.Context, id, reason string, maxFailures int) (failures int, failed bool, err error)
	FailProcessing(ctx context.Context, id, reason string) error
}

// Transcoder runs the media pipeline on local files.
type Transcoder interface {
	Transcode(ctx context.Context, in, out, poster string) error
}

// Processor handles tasks. The zero values of the durations pick the defaults.
type Processor struct {
	Videos  Videos
	Blobs   blob.Store
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
func New(cfg config.Config, videos Videos, blobs blob.Store, workDir string, log *slog.Logger) *Processor {
	return &Processor{Videos: videos, Blobs: blobs, Media: &media.Pipeline{FFmpeg: cfg.FFmpeg}, TempDir: workDir, Log: log,
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
						p.release(d, "worker stopping")
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

// release hands a task back for another worker without counting it as failed.
func (p *Processor) release(d queue.Delivery, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Retry(ctx, 0); err != nil {
		p.Log.Error("release task failed; it reappears when its visibility ends", "video_id", d.Task().VideoID, "error", err)
		return
	}
	p.Log.Info("task released", "video_id", d.Task().VideoID, "reason", why)
}

// Handle processes one delivery. It never returns an error: every outcome
// ends in an ack, a retry, a release or a dead letter.
//
// Only real processing failures, counted in the database, use up the
// video's nodespec.MaxProcessingAttempts. An interrupted job (worker
// stopping, scale-in) or a database that cannot be reached is not the
// video's fault: the task is released or retried without counting.
func (p *Processor) Handle(ctx context.Context, d queue.Delivery) {
	task := d.Task()
	log := p.Log.With("video_id", task.VideoID, "task_id", task.TaskID, "delivery", d.Attempt())
	v, err := p.Videos.BeginProcessing(ctx, task.VideoID)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrSettled):
		log.Info("task skipped: video deleted or already settled", "status", v.Status)
		p.ack(ctx, d, log)
		return
	case err != nil:
		log.Error("begin processing failed; task released", "error", err)
		p.retry(d, log, p.backoff(1))
		return
	}
	log = log.With("failures", v.Failures)

	stopHeartbeat := p.heartbeat(ctx, d, log)
	start := time.Now()
	err = p.process(ctx, v.ID)
	stopHeartbeat()

	if err == nil {
		err = p.Videos.FinishProcessing(ctx, v.ID)
		switch {
		case err == nil:
			log.Info(nodespec.ProcessedLogMessage, nodespec.ProcessedSeconds, time.Since(start).Seconds())
			p.ack(ctx, d, log)
		case errors.Is(err, store.ErrNotFound):
			log.Info("video deleted while processing; removing its new files")
			p.deleteResults(ctx, v.ID, log)
			p.ack(ctx, d, log)
		default:
			log.Error("record processed video failed; task released", "error", err)
			p.retry(d, log, p.backoff(1))
		}
		return
	}
	if ctx.Err() != nil {
		p.interrupted(d, v.ID, log)
		return
	}

	failures, failed, recErr := p.Videos.RecordFailure(ctx, v.ID, failureText(err), nodespec.MaxProcessingAttempts)
	switch {
	case errors.Is(recErr, store.ErrNotFound), errors.Is(recErr, store.ErrSettled):
		log.Info("processing failed but the video was deleted or settled meanwhile", "error", err)
		p.ack(ctx, d, log)
	case recErr != nil:
		log.Error("processing failed and the failure could not be recorded; task released uncounted", "error", err, "record_error", recErr)
		p.retry(d, log, p.backoff(1))
	case failed:
		log.Error("video failed for good", "error", err, "failures", failures)
		if err := d.DeadLetter(context.WithoutCancel(ctx)); err != nil {
			log.Error("dead-letter failed", "error", err)
		}
	default:
		delay := p.backoff(failures)
		log.Warn("processing failed; will retry", "error", err, "failures", failures, "retry_in_s", delay.Seconds())
		p.retry(d, log, delay)
	}
}

// interrupted hands back a job stopped by shutdown: not the video's fault,
// so nothing counts, and another worker takes it at once.
func (p *Processor) interrupted(d queue.Delivery, id string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Videos.ReleaseProcessing(ctx, id); err != nil {
		log.Error("reset status failed", "error", err)
	}
	p.release(d, "worker stopping")
}

// DeadLetterReason is what the owner of a video whose task the queue gave
// up on (it kept interrupting workers) reads.
const DeadLetterReason = "No se pudo procesar el video: el procesamiento se interrumpió demasiadas veces. Vuelve a subirlo."

// SweepDeadLetters marks failed, with DeadLetterReason, the video of every
// task the queue moved to its dead-letter queue, so no upload stays
// "processing" forever. The dead-lettered tasks stay there for the operator.
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
		if err := p.Videos.FailProcessing(ctx, d.Task().VideoID, DeadLetterReason); err != nil {
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
		return fmt.Errorf("store processed video: %w", err)
	}
	if err := p.Blobs.PutFile(ctx, blob.PosterKey(id), poster); err != nil {
		return fmt.Errorf("store poster: %w", err)
	}
	return nil
}

func (p *Processor) fetch(ctx context.Context, key, dst string) error {
	r, err := p.Blobs.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read original video: %w", err)
	}
	defer r.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("read original video: %w", err)
	}
	return f.Close()
}

func (p *Processor) deleteResults(ctx context.Context, id string, log *slog.Logger) {
	for _, key := range []string{blob.ProcessedKey(id), blob.PosterKey(id)} {
		if err := p.Blobs.Delete(ctx, key); err != nil {
			log.Error("delete orphan file failed", "key", key, "error", err)
		}
	}
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

// failureText is the reason a failed video shows its owner: short, one line.
func failureText(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	const max = 500
	if runes := []rune(msg); len(runes) > max {
		msg = string(runes[:max]) + "…"
	}
	return "No se pudo procesar el video: " + msg
}
