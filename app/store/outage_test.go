package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
	"github.com/google/uuid"
)

func TestRecordFailureFailsTheVideoAtTheLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		owner := newUser(t, db.Store, "ana@example.com", "Cali")
		v := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: owner.ID, Title: "t", IsPublic: true}
		if err := db.Store.CreateVideo(ctx, &v); err != nil {
			t.Fatal(err)
		}
		for want := 1; want <= 3; want++ {
			if _, err := db.Store.BeginProcessing(ctx, v.ID); err != nil {
				t.Fatal(err)
			}
			n, failed, err := db.Store.RecordFailure(ctx, v.ID, "ffmpeg said no", 3)
			if err != nil || n != want || failed != (want == 3) {
				t.Fatalf("failure %d: RecordFailure = %d, %v, %v", want, n, failed, err)
			}
		}
		got, _ := db.Store.Video(ctx, v.ID)
		if got.Status != store.StatusFailed || got.Failures != 3 || got.Error != "ffmpeg said no" {
			t.Fatalf("video = %s, %d failures, %q", got.Status, got.Failures, got.Error)
		}
		if _, _, err := db.Store.RecordFailure(ctx, v.ID, "again", 3); !errors.Is(err, store.ErrSettled) {
			t.Fatalf("a failure recorded on a failed video: %v", err)
		}
	})
}

// An outage must be told apart from any other error (the API answers 503
// instead of 500) and must cost a caller at most the operation timeout.
func TestADatabaseOutageIsUnavailableAndBounded(t *testing.T) {
	db, link := storetest.OpenPostgresBehindLink(t)
	db.Store.SetTimeout(300 * time.Millisecond)
	ctx := context.Background()
	owner := newUser(t, db.Store, "ana@example.com", "Cali")

	for _, fault := range []struct {
		name   string
		inject func()
	}{
		{"cut", link.Cut},
		{"hang", func() { link.Hang(t) }},
	} {
		t.Run(fault.name, func(t *testing.T) {
			fault.inject()
			start := time.Now()
			_, _, err := db.Store.UserVideosPage(ctx, owner.ID, 1, 10)
			took := time.Since(start)
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("error = %v, want ErrUnavailable", err)
			}
			if _, err := db.Store.Vote(ctx, store.Ballot{UserID: owner.ID, VideoID: uuid.NewString()}); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("vote error = %v, want ErrUnavailable", err)
			}
			// The bound with a margin for a loaded machine: a regression that
			// waits for the driver's or the kernel's own timeouts takes far longer.
			if took > 2*time.Second {
				t.Errorf("%s: unavailable after %s, want within the 300ms timeout (2 s with margin)", fault.name, took.Round(time.Millisecond))
			}
			link.Restore(t)
			// The pool drops the broken connections and recovers by itself.
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, _, err := db.Store.UserVideosPage(ctx, owner.ID, 1, 10)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("store did not recover after the %s: %v", fault.name, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	if _, err := db.Store.Video(ctx, uuid.NewString()); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a missing row is not an outage: %v", err)
	}
}

// A request's operations share one bound (store.WithBudget): however many
// it makes, a request waits at most one timeout for a database that does
// not answer, and a healthy database is not cut short.
func TestARequestWaitsOneBoundWhateverItsOperations(t *testing.T) {
	db, link := storetest.OpenPostgresBehindLink(t)
	const bound = 500 * time.Millisecond
	db.Store.SetTimeout(bound)
	owner := newUser(t, db.Store, "ana@example.com", "Cali")

	ctx := store.WithBudget(context.Background())
	for i := range 20 {
		if _, _, err := db.Store.UserVideosPage(ctx, owner.ID, 1, 10); err != nil {
			t.Fatalf("operation %d of a request on a healthy database: %v", i+1, err)
		}
	}

	link.Hang(t)
	ctx = store.WithBudget(context.Background())
	start := time.Now()
	_, _, err1 := db.Store.UserVideosPage(ctx, owner.ID, 1, 10)
	_, err2 := db.Store.Vote(ctx, store.Ballot{UserID: owner.ID, VideoID: uuid.NewString()})
	_, err3 := db.Store.Video(ctx, uuid.NewString())
	took := time.Since(start)
	for i, err := range []error{err1, err2, err3} {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("operation %d: %v, want ErrUnavailable", i+1, err)
		}
	}
	// Three bounds would be 1.5 s; one bound with a margin for a loaded
	// machine is under 1 s.
	if took >= bound+500*time.Millisecond {
		t.Errorf("three operations of one request waited %s for a hung database, want one bound (%s)", took.Round(time.Millisecond), bound)
	}
	t.Logf("three operations of one request, database hung: %s in all (bound %s)", took.Round(time.Millisecond), bound)
	link.Restore(t)
}
