package videos_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/videos"
)

type fakeLibrary struct {
	createErr error
	created   []store.Video
	enqueued  []string
}

func (l *fakeLibrary) CreateVideo(_ context.Context, v *store.Video) error {
	if l.createErr != nil {
		return l.createErr
	}
	l.created = append(l.created, *v)
	return nil
}
func (l *fakeLibrary) MarkEnqueued(_ context.Context, id string) error {
	l.enqueued = append(l.enqueued, id)
	return nil
}
func (l *fakeLibrary) DeleteVideo(context.Context, string, int64) (store.Video, error) {
	return store.Video{}, nil
}
func (l *fakeLibrary) Vote(context.Context, store.Ballot) (bool, error) { return false, nil }

type fakeFiles struct {
	mu      sync.Mutex
	putErr  error
	stored  map[string]bool
	deleted []string
}

func (f *fakeFiles) PutFile(_ context.Context, key, _ string) error {
	if f.putErr != nil {
		return f.putErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stored == nil {
		f.stored = map[string]bool{}
	}
	f.stored[key] = true
	return nil
}

func (f *fakeFiles) Delete(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.stored, key)
	f.deleted = append(f.deleted, key)
	return nil
}

type fakeQueue struct{ err error }

func (q fakeQueue) Publish(context.Context, queue.Task) error { return q.err }

func service(lib *fakeLibrary, files *fakeFiles, q queue.Publisher) *videos.Service {
	return &videos.Service{Library: lib, Files: files, Queue: q, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

var upload = videos.NewUpload{Owner: 1, Title: "Triple", Public: true, Path: "/spool/x"}

func TestUploadKeepsTheVideoWhenTheQueueIsDown(t *testing.T) {
	lib, files := &fakeLibrary{}, &fakeFiles{}
	v, err := service(lib, files, fakeQueue{err: errors.New("sqs: connection refused")}).Upload(context.Background(), upload)
	if err != nil {
		t.Fatalf("a queue outage failed the upload: %v", err)
	}
	if len(lib.created) != 1 || len(lib.enqueued) != 0 {
		t.Fatalf("created %d, marked enqueued %v: the re-enqueue loop must find it unsent", len(lib.created), lib.enqueued)
	}
	if !files.stored["originals/"+v.ID+".mp4"] {
		t.Fatalf("original not kept: %v", files.stored)
	}
}

func TestUploadLeavesNothingWhenStorageOrDatabaseFail(t *testing.T) {
	for _, c := range []struct {
		name    string
		lib     *fakeLibrary
		files   *fakeFiles
		storage bool
	}{
		{"storage down", &fakeLibrary{}, &fakeFiles{putErr: errors.New("s3: timeout")}, true},
		{"database down", &fakeLibrary{createErr: store.ErrUnavailable}, &fakeFiles{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := service(c.lib, c.files, fakeQueue{}).Upload(context.Background(), upload)
			if err == nil || errors.Is(err, videos.ErrStorageUnavailable) != c.storage {
				t.Fatalf("error = %v", err)
			}
			if len(c.lib.created) != 0 || len(c.files.stored) != 0 {
				t.Fatalf("left behind: rows %v, files %v", c.lib.created, c.files.stored)
			}
		})
	}
}
