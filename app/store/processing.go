package store

import (
	"context"
	"errors"
	"time"
)

// ErrSettled means the video already reached processed or failed: a
// redelivered task for it has nothing left to do.
var ErrSettled = errors.New("video already settled")

// BeginProcessing moves a queued video to processing and counts the start.
// ErrNotFound: the video was deleted; ErrSettled: it needs no more work.
func (s *Store) BeginProcessing(ctx context.Context, id string) (Video, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res := s.db.WithContext(ctx).Exec("UPDATE videos SET status = ?, attempts = attempts + 1 WHERE id = ? AND status IN (?, ?)",
		StatusProcessing, id, StatusUploaded, StatusProcessing)
	if res.Error != nil {
		return Video{}, wrap("begin processing", res.Error)
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
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res := s.db.WithContext(ctx).Exec("UPDATE videos SET status = ?, processed_at = ?, error = '' WHERE id = ? AND status IN (?, ?)",
		StatusProcessed, now(), id, StatusUploaded, StatusProcessing)
	if res.Error != nil {
		return wrap("finish processing", res.Error)
	}
	if res.RowsAffected == 0 {
		// Either a concurrent delivery finished first (nothing to do) or the video is gone.
		if _, err := s.Video(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseProcessing puts a video whose job was interrupted (worker stopping)
// back in the queue state. An interruption is not a failure: nothing counts.
func (s *Store) ReleaseProcessing(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return wrap("release video", s.db.WithContext(ctx).Exec("UPDATE videos SET status = ? WHERE id = ? AND status = ?",
		StatusUploaded, id, StatusProcessing).Error)
}

// RecordFailure counts a real processing failure of a video in processing.
// Below maxFailures the video goes back to the queue state, keeping reason
// in case the next attempt is the last; at maxFailures it is failed for good
// and reason is what its owner reads. Counting and deciding happen in one
// statement, so concurrent deliveries of one task cannot miscount.
// ErrNotFound: the video was deleted; ErrSettled: it is no longer processing.
func (s *Store) RecordFailure(ctx context.Context, id, reason string, maxFailures int) (failures int, failed bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rows []struct {
		Failures int
		Status   string
	}
	err = s.db.WithContext(ctx).Raw(`UPDATE videos SET failures = failures + 1, error = ?,
			status = CASE WHEN failures + 1 >= ? THEN ? ELSE ? END
		WHERE id = ? AND status = ? RETURNING failures, status`,
		reason, maxFailures, StatusFailed, StatusUploaded, id, StatusProcessing).Scan(&rows).Error
	if err != nil {
		return 0, false, wrap("record failure", err)
	}
	if len(rows) == 0 {
		v, err := s.Video(ctx, id)
		if err != nil {
			return 0, false, err
		}
		return v.Failures, false, ErrSettled
	}
	return rows[0].Failures, rows[0].Status == StatusFailed, nil
}

// FailProcessing gives up on a video that is not settled yet and tells its
// owner why (a task that reached the dead-letter queue).
func (s *Store) FailProcessing(ctx context.Context, id, reason string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return wrap("fail video", s.db.WithContext(ctx).Exec("UPDATE videos SET status = ?, error = ? WHERE id = ? AND status IN (?, ?)",
		StatusFailed, reason, id, StatusUploaded, StatusProcessing).Error)
}

// PendingVideos lists videos still waiting for a worker, oldest first.
func (s *Store) PendingVideos(ctx context.Context) ([]Video, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var out []Video
	err := s.db.WithContext(ctx).Table("videos").Select(videoColumns).
		Where("status IN (?, ?)", StatusUploaded, StatusProcessing).Order("uploaded_at, id").Find(&out).Error
	if err != nil {
		return nil, wrap("list pending videos", err)
	}
	return out, nil
}

// UnenqueuedVideos lists uploaded videos whose task never reached the queue
// (the API died between the commit and the send, or the queue was down)
// and that are older than grace, so a request still in flight is not raced.
func (s *Store) UnenqueuedVideos(ctx context.Context, grace time.Duration) ([]Video, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var out []Video
	err := s.db.WithContext(ctx).Table("videos").Select(videoColumns).
		Where("status = ? AND enqueued_at IS NULL AND uploaded_at < ?", StatusUploaded, now().Add(-grace)).
		Order("uploaded_at, id").Find(&out).Error
	if err != nil {
		return nil, wrap("list unenqueued videos", err)
	}
	return out, nil
}
