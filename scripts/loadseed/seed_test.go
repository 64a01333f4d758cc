package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	db := "postgres://anb:anb@127.0.0.1:5432/x"
	for _, tc := range []struct {
		o  options
		ok bool
	}{
		{options{db: db, players: 10_000, votes: 100_000}, true},
		{options{db: db, players: 10, votes: 50}, true}, // half of all pairs
		{options{db: db, players: 10, votes: 51}, false},
		{options{db: db, players: 0, votes: 0}, false},
		{options{db: "", players: 10, votes: 1}, false},
		{options{db: "mysql://x", players: 10, votes: 1}, false},
	} {
		if err := tc.o.check(); (err == nil) != tc.ok {
			t.Errorf("check(%d players, %d votes, %q) = %v", tc.o.players, tc.o.votes, tc.o.db, err)
		}
	}
}

// Votes are distinct pairs of a seeded voter and a seeded video (the votes
// table refuses repeats), 10 ms apart, and the same on every run.
func TestDrawVotes(t *testing.T) {
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("video-%d", i)
	}
	at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	votes, err := drawVotes(rand.New(rand.NewPCG(2026, 1)), ids, 5000, at)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[votePair]bool{}
	perVideo := map[string]int{}
	for i, v := range votes {
		voter, video, when := v[0].(int64), v[1].(string), v[2].(time.Time)
		if voter < 1 || voter > int64(len(ids)) || !slices.Contains(ids, video) {
			t.Fatalf("vote %d: voter %d, video %s", i, voter, video)
		}
		if p := (votePair{voter, video}); seen[p] {
			t.Fatalf("vote %d repeats %v", i, p)
		} else {
			seen[p] = true
		}
		if want := at.Add(time.Duration(i) * 10 * time.Millisecond); !when.Equal(want) {
			t.Fatalf("vote %d at %v, want %v", i, when, want)
		}
		perVideo[video]++
	}
	if len(votes) != 5000 {
		t.Fatalf("%d votes, want 5000", len(votes))
	}
	// Skewed: the most voted video has at least three times the average 25.
	top := 0
	for _, n := range perVideo {
		top = max(top, n)
	}
	if top < 75 {
		t.Errorf("most votes on one video: %d; popularity is not skewed", top)
	}
	again, _ := drawVotes(rand.New(rand.NewPCG(2026, 1)), ids, 5000, at)
	if fmt.Sprint(again) != fmt.Sprint(votes) {
		t.Error("the same seed drew different votes")
	}

	// Asking for more pairs than exist gives up instead of looping.
	if _, err := drawVotes(rand.New(rand.NewPCG(1, 1)), ids[:3], 10, at); err == nil {
		t.Error("10 distinct votes among 3 players and 3 videos: want an error")
	}
}
