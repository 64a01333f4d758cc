package videos

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/store"
)

// ErrNothingToDo means the video of a task was deleted or already settled
// (processed or failed): the task is acknowledged and skipped, which makes
// redelivered tasks harmless.
var ErrNothingToDo = errors.New("video deleted or already settled")

// ProcessingStore is what the processing state machine needs from the database.
type ProcessingStore interface {
	BeginProcessing(ctx context.Context, id string) (store.Video, error)
	FinishProcessing(ctx context.Context, id string) error
	ReleaseProcessing(ctx context.Context, id string) error
	RecordFailure(ctx context.Context, id, reason string, maxFailures int) (failures int, failed bool, err error)
	FailProcessing(ctx context.Context, id, reason string) error
}

// Processing is the state machine of a video's processing:
//
//	uploaded --Start--> processing --Finish--> processed
//	processing --Fail--> uploaded (retry later) | failed (the last attempt)
//	processing --Interrupt--> uploaded (not counted)
//	uploaded | processing --DeadLettered--> failed
//
// Only real processing failures count toward nodespec.MaxProcessingAttempts;
// a job interrupted by a stopping worker never does.
type Processing struct {
	Store ProcessingStore
	Files Files // to remove the results of a video deleted mid-job
	Log   *slog.Logger
}

// Start claims the video for a job and counts the start. ErrNothingToDo:
// skip the task.
func (p *Processing) Start(ctx context.Context, id string) (store.Video, error) {
	v, err := p.Store.BeginProcessing(ctx, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrSettled) {
		return v, ErrNothingToDo
	}
	return v, err
}

// Finish records a successful job that took took. A video deleted while it
// was processed has its new files removed; that also counts as done.
func (p *Processing) Finish(ctx context.Context, id string, took time.Duration) error {
	log := p.Log.With("video_id", id)
	err := p.Store.FinishProcessing(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		log.InfoContext(ctx, "video deleted while processing; removing its new files")
		removeFiles(ctx, p.Files, log, id, blob.ProcessedKey, blob.PosterKey)
		return nil
	}
	if err != nil {
		return err
	}
	// The ProcessingTime metric of the worker log group reads this line.
	log.InfoContext(ctx, nodespec.ProcessedLogMessage, nodespec.ProcessedSeconds, took.Seconds())
	return nil
}

// Verdict is what a failed job leads to.
type Verdict struct {
	Failures int  // real failures counted so far, this one included
	GiveUp   bool // the video is failed for good: dead-letter the task
}

// Fail records a real processing failure with its cause, which the owner
// reads if it was the last attempt. ErrNothingToDo: the video was deleted
// or settled meanwhile.
func (p *Processing) Fail(ctx context.Context, id string, cause error) (Verdict, error) {
	failures, failed, err := p.Store.RecordFailure(ctx, id, FailureText(cause), nodespec.MaxProcessingAttempts)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrSettled) {
		return Verdict{}, ErrNothingToDo
	}
	return Verdict{Failures: failures, GiveUp: failed}, err
}

// Interrupt hands back a job stopped by a worker shutting down: not the
// video's fault, nothing counts.
func (p *Processing) Interrupt(ctx context.Context, id string) error {
	return p.Store.ReleaseProcessing(ctx, id)
}

// DeadLetterReason is what the owner of a video whose task the queue gave
// up on (it kept interrupting workers) reads.
const DeadLetterReason = "No se pudo procesar el video: el procesamiento se interrumpió demasiadas veces. Vuelve a subirlo."

// DeadLettered ends, failed, a video whose task reached the dead-letter
// queue, so no upload stays in processing forever.
func (p *Processing) DeadLettered(ctx context.Context, id string) error {
	return p.Store.FailProcessing(ctx, id, DeadLetterReason)
}

// FailureText is the reason a failed video shows its owner: short, one line.
func FailureText(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	const max = 500
	if runes := []rune(msg); len(runes) > max {
		msg = string(runes[:max]) + "…"
	}
	return "No se pudo procesar el video: " + msg
}
