// Package videos holds the video use cases that the HTTP API and the workers
// share: upload, delete and vote, and the processing state machine a worker
// drives through a job (start, success, failure, interruption, dead letter).
// The HTTP layer only binds requests and maps errors; the worker only moves
// tasks and runs ffmpeg. Each dependency is the narrowest interface its use
// case needs, declared here.
package videos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/store"
	"github.com/google/uuid"
)

// ErrStorageUnavailable means the video storage refused or did not answer:
// an outage, not a problem with the upload. Nothing was kept.
var ErrStorageUnavailable = errors.New("video storage unavailable")

// Files is the part of the video storage the use cases write.
type Files interface {
	PutFile(ctx context.Context, key, path string) error
	Delete(ctx context.Context, key string) error
}

// Library is what uploading, deleting and voting need from the database.
type Library interface {
	CreateVideo(ctx context.Context, v *store.Video) error
	MarkEnqueued(ctx context.Context, id string) error
	DeleteVideo(ctx context.Context, id string, ownerID int64) (store.Video, error)
	Vote(ctx context.Context, b store.Ballot) (pending bool, err error)
}

// Service runs the use cases of players and voters.
type Service struct {
	Library Library
	Files   Files
	Queue   queue.Publisher
	Log     *slog.Logger
}

// NewUpload is an upload that passed validation, staged in a local file.
type NewUpload struct {
	Owner  int64
	Title  string
	Public bool
	Path   string // the staged file; the caller removes it afterwards
}

// publishTimeout bounds the wait for the queue after the video is saved: a
// queue outage must not hold the upload's answer; the API's re-enqueue loop
// sends the task later.
const publishTimeout = 5 * time.Second

// Upload stores the original, saves the video as uploaded and sends its
// processing task. Once the row is committed the video cannot be lost: a
// task that does not reach the queue is sent again by the re-enqueue loop.
// On ErrStorageUnavailable or a database error nothing is left behind.
func (s *Service) Upload(ctx context.Context, in NewUpload) (store.Video, error) {
	v := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: in.Owner, Title: in.Title, IsPublic: in.Public}
	log := s.Log.With("video_id", v.ID, "task_id", v.TaskID, "user_id", v.UserID)
	if err := s.Files.PutFile(ctx, blob.OriginalKey(v.ID), in.Path); err != nil {
		log.ErrorContext(ctx, "store original failed", "error", err)
		removeFiles(context.WithoutCancel(ctx), s.Files, log, v.ID, blob.OriginalKey) // a multipart upload may have left parts
		return store.Video{}, fmt.Errorf("%w: %w", ErrStorageUnavailable, err)
	}
	if err := s.Library.CreateVideo(ctx, &v); err != nil {
		removeFiles(context.WithoutCancel(ctx), s.Files, log, v.ID, blob.OriginalKey)
		return store.Video{}, err
	}
	pubCtx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := s.Queue.Publish(pubCtx, queue.Task{TaskID: v.TaskID, VideoID: v.ID}); err != nil {
		log.ErrorContext(ctx, "enqueue failed; the re-enqueue loop will retry", "error", err)
	} else if err := s.Library.MarkEnqueued(ctx, v.ID); err != nil {
		log.WarnContext(ctx, "mark enqueued failed; the task may be sent twice", "error", err)
	}
	return v, nil
}

// Delete removes the owner's video and its files, unless it is published
// for voting (store.ErrPublished) or another user's (store.ErrForbidden).
func (s *Service) Delete(ctx context.Context, id string, owner int64) (store.Video, error) {
	v, err := s.Library.DeleteVideo(ctx, id, owner)
	if err != nil {
		return v, err
	}
	removeFiles(context.WithoutCancel(ctx), s.Files, s.Log.With("video_id", v.ID), v.ID, blob.OriginalKey, blob.ProcessedKey, blob.PosterKey)
	return v, nil
}

// Vote stores the user's vote for a public processed video, once, and
// counts it unless it must wait for the voter's verification (pending):
// store.ErrAlreadyVoted for a second vote, store.ErrNotFound for a video
// that is unknown, private or not processed yet. An owner may vote for
// their own video (see the README, "Vote integrity").
func (s *Service) Vote(ctx context.Context, b store.Ballot) (bool, error) {
	return s.Library.Vote(ctx, b)
}

// removeFiles deletes a video's files; a failure leaves an orphan file,
// never a broken video, so it is logged and not returned.
func removeFiles(ctx context.Context, files Files, log *slog.Logger, id string, keys ...func(string) string) {
	for _, key := range keys {
		if err := files.Delete(ctx, key(id)); err != nil {
			log.ErrorContext(ctx, "delete file failed; it is left orphaned", "key", key(id), "error", err)
		}
	}
}
