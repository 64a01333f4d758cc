package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
)

// checkTotals asserts, in the database, that the rankings' running totals
// equal the votes that count, and that the player's ranking shows want.
func checkTotals(t *testing.T, st *store.Store, player int64, want int64) {
	t.Helper()
	totals, counted, err := st.TotalsCheck(context.Background())
	if err != nil || totals != counted {
		t.Fatalf("Σ totals = %d, counted votes = %d (%v)", totals, counted, err)
	}
	rows, err := st.Rankings(context.Background(), "", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.UserID == player && r.Votes != want {
			t.Fatalf("player %d has %d votes in the rankings, want %d", player, r.Votes, want)
		}
	}
}

func TestVerifiedRuleCountsVotesOnlyFromVerification(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		st := db.Store
		owner := newUser(t, st, "owner@example.com", "Cali")
		v := newPublishedVideo(t, st, owner.ID)
		fan := newUser(t, st, "fan@example.com", "Cali")
		other := newUser(t, st, "other@example.com", "Cali")

		pending, err := st.Vote(ctx, store.Ballot{UserID: fan.ID, VideoID: v.ID, Address: "a1", Agent: "g1", VerifiedOnly: true})
		if err != nil || !pending {
			t.Fatalf("unverified vote under the rule verified: pending=%v %v", pending, err)
		}
		// The rule "all" counts an unverified account's vote at once.
		if pending, err := st.Vote(ctx, store.Ballot{UserID: other.ID, VideoID: v.ID}); err != nil || pending {
			t.Fatalf("vote under the rule all: pending=%v %v", pending, err)
		}
		checkTotals(t, st, owner.ID, 1)
		if got, _ := st.Video(ctx, v.ID); got.Votes != 1 {
			t.Errorf("video votes %d before verification, want 1", got.Votes)
		}
		// A second vote is still refused while the first is pending.
		if _, err := st.Vote(ctx, store.Ballot{UserID: fan.ID, VideoID: v.ID, VerifiedOnly: true}); !errors.Is(err, store.ErrAlreadyVoted) {
			t.Errorf("second vote: %v", err)
		}

		if err := st.SaveVerification(ctx, fan.ID, "hash-1", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		u, err := st.Verify(ctx, "hash-1")
		if err != nil || u.ID != fan.ID || u.VerifiedAt == nil {
			t.Fatalf("verify: %+v %v", u, err)
		}
		checkTotals(t, st, owner.ID, 2)
		// Single use.
		if _, err := st.Verify(ctx, "hash-1"); !errors.Is(err, store.ErrLinkInvalid) {
			t.Errorf("second use of the link: %v", err)
		}
		// Once verified, votes count at once.
		v2 := newPublishedVideo(t, st, owner.ID)
		if pending, err := st.Vote(ctx, store.Ballot{UserID: fan.ID, VideoID: v2.ID, VerifiedOnly: true}); err != nil || pending {
			t.Fatalf("verified account's vote: pending=%v %v", pending, err)
		}
		checkTotals(t, st, owner.ID, 3)
	})
}

func TestVerificationLinksExpireAndOnlyTheLatestWorks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		st := db.Store
		u := newUser(t, st, "fan@example.com", "Cali")
		if err := st.SaveVerification(ctx, u.ID, "old", time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Verify(ctx, "old"); !errors.Is(err, store.ErrLinkExpired) {
			t.Fatalf("expired link: %v", err)
		}
		if _, err := st.Verify(ctx, "old"); !errors.Is(err, store.ErrLinkInvalid) {
			t.Fatalf("an expired link is used up too: %v", err)
		}
		st.SaveVerification(ctx, u.ID, "first", time.Now().Add(time.Hour))
		st.SaveVerification(ctx, u.ID, "second", time.Now().Add(time.Hour))
		if _, err := st.Verify(ctx, "first"); !errors.Is(err, store.ErrLinkInvalid) {
			t.Errorf("a superseded link: %v", err)
		}
		if got, _ := st.UserByID(ctx, u.ID); got.VerifiedAt != nil {
			t.Fatal("verified by an expired or superseded link")
		}
		if _, err := st.Verify(ctx, "second"); err != nil {
			t.Errorf("the latest link: %v", err)
		}
	})
}

func TestVoidingAndRestoringKeepTotalsEqualToCountedVotes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		st := db.Store
		owner := newUser(t, st, "owner@example.com", "Cali")
		rival := newUser(t, st, "rival@example.com", "Cali")
		a, b, c := newPublishedVideo(t, st, owner.ID), newPublishedVideo(t, st, owner.ID), newPublishedVideo(t, st, rival.ID)
		var bots []int64
		for i := range 6 {
			bot := newUser(t, st, fmt.Sprintf("bot%d@example.com", i), "Cali")
			bots = append(bots, bot.ID)
			for _, v := range []string{a.ID, b.ID} {
				if _, err := st.Vote(ctx, store.Ballot{UserID: bot.ID, VideoID: v, VerifiedOnly: i%2 == 0}); err != nil {
					t.Fatal(err)
				}
			}
		}
		fan := newUser(t, st, "fan@example.com", "Cali")
		st.Vote(ctx, store.Ballot{UserID: fan.ID, VideoID: a.ID})
		st.Vote(ctx, store.Ballot{UserID: fan.ID, VideoID: c.ID})
		// 3 bots counted on two videos + the fan; 3 bots pending.
		checkTotals(t, st, owner.ID, 7)

		void, err := st.VoidVotes(ctx, bots, "ops@anb", "ráfaga de cuentas desde una dirección")
		if err != nil || void.Votes != 12 || void.Accounts != 6 {
			t.Fatalf("void: %+v %v", void, err)
		}
		checkTotals(t, st, owner.ID, 1)
		checkTotals(t, st, rival.ID, 1)
		// A pending vote that is voided stays out when its account verifies.
		st.SaveVerification(ctx, bots[0], "h", time.Now().Add(time.Hour))
		if _, err := st.Verify(ctx, "h"); err != nil {
			t.Fatal(err)
		}
		checkTotals(t, st, owner.ID, 1)

		n, err := st.RestoreVotes(ctx, void.ID, "ops2@anb")
		if err != nil || n != 12 {
			t.Fatalf("restore: %d %v", n, err)
		}
		// bots[0] is verified now: its two votes count too.
		checkTotals(t, st, owner.ID, 9)
		if _, err := st.RestoreVotes(ctx, void.ID, "ops2@anb"); !errors.Is(err, store.ErrVoidNotFound) {
			t.Errorf("restoring twice: %v", err)
		}
		voids, err := st.Voids(ctx)
		if err != nil || len(voids) != 1 || voids[0].Actor != "ops@anb" || voids[0].RestoredBy != "ops2@anb" || voids[0].RestoredAt == nil ||
			voids[0].Reason != "ráfaga de cuentas desde una dirección" {
			t.Errorf("voidings recorded: %+v %v", voids, err)
		}
	})
}

func TestTakeCountsActionsPerWindowAcrossCallers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		for i := range 3 {
			if _, ok, err := db.Store.Take(ctx, "signup:address:x", 3, time.Hour); err != nil || !ok {
				t.Fatalf("take %d: %v %v", i+1, ok, err)
			}
		}
		left, ok, err := db.Store.Take(ctx, "signup:address:x", 3, time.Hour)
		if err != nil || ok || left <= 59*time.Minute || left > time.Hour {
			t.Fatalf("4th take: ok=%v left=%v %v", ok, left, err)
		}
		if _, ok, _ := db.Store.Take(ctx, "signup:address:y", 3, time.Hour); !ok {
			t.Error("another subject was blocked")
		}
		if _, ok, _ := db.Store.Take(ctx, "short", 1, 50*time.Millisecond); !ok {
			t.Fatal("first take")
		}
		time.Sleep(80 * time.Millisecond)
		if _, ok, _ := db.Store.Take(ctx, "short", 1, 50*time.Millisecond); !ok {
			t.Error("a new window did not start")
		}
	})
}

func TestAuditDataIsForgottenAfterRetention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		ctx := context.Background()
		st := db.Store
		owner := newUser(t, st, "owner@example.com", "Cali")
		u := store.User{FirstName: "F", LastName: "G", Email: "f@example.com", PasswordHash: "x", City: "Cali", Country: "CO", SignupAddress: "addr"}
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		v := newPublishedVideo(t, st, owner.ID)
		st.Vote(ctx, store.Ballot{UserID: u.ID, VideoID: v.ID, Address: "addr", Agent: "agent"})
		if n, err := st.ForgetAuditData(ctx, time.Hour); err != nil || n != 0 {
			t.Fatalf("fresh data forgotten: %d %v", n, err)
		}
		if n, err := st.ForgetAuditData(ctx, -time.Minute); err != nil || n != 2 {
			t.Fatalf("old data: %d forgotten, want 2 (a vote and a signup): %v", n, err)
		}
		rows, _ := st.Audit(ctx, store.AuditRules{BurstAccounts: 1, BurstWindow: time.Hour, SharedAddress: 1})
		if len(rows) != 1 || rows[0].TopAddress != "" || rows[0].Burst != 0 || rows[0].SharedAddress != 0 {
			t.Errorf("audit after retention: %+v", rows)
		}
		checkTotals(t, st, owner.ID, 1)
	})
}
