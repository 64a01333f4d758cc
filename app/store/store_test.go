package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
	"github.com/google/uuid"
)

func newUser(t *testing.T, st *store.Store, email, city string) store.User {
	t.Helper()
	u := store.User{FirstName: "Ana", LastName: email, Email: email, PasswordHash: "x", City: city, Country: "Colombia"}
	if err := st.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// newPublishedVideo stores a public video and takes it through processing.
func newPublishedVideo(t *testing.T, st *store.Store, owner int64) store.Video {
	t.Helper()
	ctx := context.Background()
	v := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: owner, Title: "Triple", IsPublic: true}
	if err := st.CreateVideo(ctx, &v); err != nil {
		t.Fatal(err)
	}
	if _, err := st.BeginProcessing(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishProcessing(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConcurrentIdenticalVotesCountOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		owner := newUser(t, db.Store, "owner@example.com", "Cali")
		voter := newUser(t, db.Store, "voter@example.com", "Cali")
		v := newPublishedVideo(t, db.Store, owner.ID)

		const n = 100
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { _, err := db.Store.Vote(ctx, store.Ballot{UserID: voter.ID, VideoID: v.ID}); errs <- err })
		}
		wg.Wait()
		close(errs)
		ok, dup := 0, 0
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrAlreadyVoted):
				dup++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		got, err := db.Store.Video(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok != 1 || dup != n-1 || got.Votes != 1 {
			t.Fatalf("accepted %d, refused %d, counted %d; want 1, %d, 1", ok, dup, got.Votes, n-1)
		}
	})
}

func TestConcurrentSignupsWithOneEmailMakeOneAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		const n = 50
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				// Case varies: the address is the same account.
				email := "Same@Example.com"
				if i%2 == 0 {
					email = "same@example.COM"
				}
				u := store.User{FirstName: "A", LastName: "B", Email: email, PasswordHash: "x", City: "Cali", Country: "CO"}
				errs <- db.Store.CreateUser(context.Background(), &u)
			})
		}
		wg.Wait()
		close(errs)
		created := 0
		for err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, store.ErrDuplicateEmail):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if created != 1 {
			t.Fatalf("%d accounts created, want 1", created)
		}
	})
}

func TestMigrationsAreSafeWithSeveralStarters(t *testing.T) {
	dsn := storetest.NewPostgresDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			st, err := store.Open(context.Background(), dsn, "")
			if err == nil {
				st.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent start: %v", err)
		}
	}
}

func TestRankingsOrderFilterAndPositions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		// Five players in Bogotá with 4..0 votes, one in Cali with 10 on two videos.
		var voters []store.User
		for i := range 10 {
			voters = append(voters, newUser(t, db.Store, fmt.Sprintf("voter%d@example.com", i), "Medellín"))
		}
		var players []store.User
		for i := range 5 {
			p := newUser(t, db.Store, fmt.Sprintf("p%d@example.com", i), "Bogotá")
			players = append(players, p)
			v := newPublishedVideo(t, db.Store, p.ID)
			for j := range 4 - i {
				if _, err := db.Store.Vote(ctx, store.Ballot{UserID: voters[j].ID, VideoID: v.ID}); err != nil {
					t.Fatal(err)
				}
			}
		}
		star := newUser(t, db.Store, "star@example.com", "Cali")
		for range 2 {
			v := newPublishedVideo(t, db.Store, star.ID)
			for _, voter := range voters[:5] {
				if _, err := db.Store.Vote(ctx, store.Ballot{UserID: voter.ID, VideoID: v.ID}); err != nil {
					t.Fatal(err)
				}
			}
		}
		all, err := db.Store.Rankings(ctx, "", 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 6 || all[0].UserID != star.ID || all[0].Votes != 10 || all[5].Votes != 0 {
			t.Fatalf("rankings = %+v", all)
		}
		page2, err := db.Store.Rankings(ctx, "BOGOTÁ", 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page2) != 2 || page2[0].UserID != players[2].ID || page2[1].UserID != players[3].ID {
			t.Fatalf("Bogotá page 2 = %+v", page2)
		}
	})
}

// The rankings read per-player totals that triggers maintain (migration
// 0002); whatever happens to videos, they must equal the sum over the
// player's public processed videos.
func TestRankingTotalsFollowVideos(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		ana := newUser(t, db.Store, "ana@example.com", "Cali")
		bob := newUser(t, db.Store, "bob@example.com", "Cali")
		voters := make([]store.User, 6)
		for i := range voters {
			voters[i] = newUser(t, db.Store, fmt.Sprintf("v%d@example.com", i), "Pasto")
		}
		first := newPublishedVideo(t, db.Store, ana.ID)
		second := newPublishedVideo(t, db.Store, ana.ID)
		// Bob's only video is private: he is not ranked, however processed.
		private := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: bob.ID, Title: "Privado", IsPublic: false}
		if err := db.Store.CreateVideo(ctx, &private); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Store.BeginProcessing(ctx, private.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.Store.FinishProcessing(ctx, private.ID); err != nil {
			t.Fatal(err)
		}
		// A public video still waiting for a worker does not count either.
		pending := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: bob.ID, Title: "En cola", IsPublic: true}
		if err := db.Store.CreateVideo(ctx, &pending); err != nil {
			t.Fatal(err)
		}

		var wg sync.WaitGroup
		for _, v := range voters {
			for _, video := range []store.Video{first, second} {
				wg.Go(func() {
					if _, err := db.Store.Vote(ctx, store.Ballot{UserID: v.ID, VideoID: video.ID}); err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
		if _, err := db.Store.Vote(ctx, store.Ballot{UserID: voters[0].ID, VideoID: first.ID}); !errors.Is(err, store.ErrAlreadyVoted) {
			t.Fatalf("repeated vote: %v, want ErrAlreadyVoted", err)
		}
		if _, err := db.Store.Vote(ctx, store.Ballot{UserID: voters[0].ID, VideoID: pending.ID}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("vote for a pending video: %v, want ErrNotFound", err)
		}
		got, err := db.Store.Rankings(ctx, "", 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].UserID != ana.ID || got[0].Votes != 12 {
			t.Fatalf("rankings = %+v, want only Ana with 12 votes", got)
		}

		// Bob's queued video gets published: he enters the ranking with 0 votes.
		if _, err := db.Store.BeginProcessing(ctx, pending.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.Store.FinishProcessing(ctx, pending.ID); err != nil {
			t.Fatal(err)
		}
		cali, err := db.Store.Rankings(ctx, "cali", 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(cali) != 2 || cali[0].UserID != ana.ID || cali[1].UserID != bob.ID || cali[1].Votes != 0 {
			t.Fatalf("Cali rankings = %+v, want Ana (12) then Bob (0)", cali)
		}
		if none, err := db.Store.Rankings(ctx, "Pasto", 1, 10); err != nil || len(none) != 0 {
			t.Fatalf("Pasto rankings = %+v, %v; want none (voters have no videos)", none, err)
		}
	})
}
