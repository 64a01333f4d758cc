package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrSettled means the video already reached processed or failed: a
// redelivered task for it has nothing left to do.
var ErrSettled = errors.New("video already settled")

// BeginProcessing moves a queued video to processing and counts the attempt.
// ErrNotFound: the video was deleted; ErrSettled: it needs no more work.
func (s *Store) BeginProcessing(ctx context.Context, id string) (Video, error) {
	res := s.db.WithContext(ctx).Exec("UPDATE videos SET status = ?, attempts = attempts + 1 WHERE id = ? AND status IN (?, ?)",
		StatusProcessing, id, StatusUploaded, StatusProcessing)
	if res.Error != nil {
		return Video{}, fmt.Errorf("begin processing: %w", res.Error)
	}
	v, err := s.Video(ctx, id)
	if err != nil {
		return Video{}, err
	}
	if res.RowsAffected == 0 {
		return v, ErrSettled
	}
	return v, nil
}

// FinishProcessing marks the video processed. ErrNotFound means it was
// deleted while being processed, so its new files are orphans.
func (s *Store) FinishProcessing(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Exec("UPDATE videos SET status = ?, processed_at = ?, error = '' WHERE id = ? AND status IN (?, ?)",
		StatusProcessed, now(), id, StatusUploaded, StatusProcessing)
	if res.Error != nil {
		return fmt.Errorf("finish processing: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		// Either a concurrent delivery finished first (nothing to do) or the video is gone.
		if _, err := s.Video(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// RetryProcessing puts a video back in the queue state after a failed
// attempt, keeping the reason in case it turns out to be the last one.
func (s *Store) RetryProcessing(ctx context.Context, id, reason string) error {
	return s.db.WithContext(ctx).Exec("UPDATE videos SET status = ?, error = ? WHERE id = ? AND status = ?",
		StatusUploaded, reason, id, StatusProcessing).Error
}

// FailProcessing gives up on a video and tells its owner why.
func (s *Store) FailProcessing(ctx context.Context, id, reason string) error {
	return s.db.WithContext(ctx).Exec("UPDATE videos SET status = ?, error = ? WHERE id = ? AND status IN (?, ?)",
		StatusFailed, reason, id, StatusUploaded, StatusProcessing).Error
}

// PendingVideos lists videos still waiting for a worker, oldest first.
func (s *Store) PendingVideos(ctx context.Context) ([]Video, error) {
	var out []Video
	err := s.db.WithContext(ctx).Table("videos").Select(videoColumns).
		Where("status IN (?, ?)", StatusUploaded, StatusProcessing).Order("uploaded_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list pending videos: %w", err)
	}
	return out, nil
}

// UnenqueuedVideos lists uploaded videos whose task never reached the queue
// (the API died between the commit and the send) and that are older than
// grace, so a request still in flight is not raced.
func (s *Store) UnenqueuedVideos(ctx context.Context, grace time.Duration) ([]Video, error) {
	var out []Video
	err := s.db.WithContext(ctx).Table("videos").Select(videoColumns).
		Where("status = ? AND enqueued_at IS NULL AND uploaded_at < ?", StatusUploaded, now().Add(-grace)).
		Order("uploaded_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list unenqueued videos: %w", err)
	}
	return out, nil
}
