package voteaudit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
	"github.com/anb/risingstars/app/voteaudit"
	"github.com/google/uuid"
)

func user(t *testing.T, st *store.Store, email, address string) int64 {
	t.Helper()
	u := store.User{FirstName: "F", LastName: email, Email: email, PasswordHash: "x", City: "Cali", Country: "CO", SignupAddress: address}
	if err := st.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func video(t *testing.T, st *store.Store, owner int64) string {
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
	return v.ID
}

func vote(t *testing.T, st *store.Store, voter int64, videoID, address string) {
	t.Helper()
	if _, err := st.Vote(context.Background(), store.Ballot{UserID: voter, VideoID: videoID, Address: address, Agent: "ua"}); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, st *store.Store, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := voteaudit.Run(context.Background(), st, args, &out); err != nil {
		t.Fatalf("audit-votes %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

func votesOf(t *testing.T, st *store.Store, player int64) int64 {
	t.Helper()
	rows, err := st.Rankings(context.Background(), "", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.UserID == player {
			return r.Votes
		}
	}
	t.Fatalf("player %d not ranked", player)
	return 0
}

// A ballot-stuffing script (accounts created in a burst from one address,
// each voting for one player from that address) among ordinary voters: the
// report puts its player first and flags exactly its accounts; voiding them
// moves the totals and restoring moves them back, with Σ totals = counted
// votes checked in the database each time.
func TestAuditFlagsTheStuffingAndVoidingIsReversible(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		st := db.Store
		stuffed := user(t, st, "stuffed@example.com", "home-1")
		rival := user(t, st, "rival@example.com", "home-2")
		sv, rv := video(t, st, stuffed), video(t, st, rival)
		var bots []string
		for i := range 8 {
			id := user(t, st, fmt.Sprintf("bot%d@example.com", i), "script")
			bots = append(bots, fmt.Sprint(id))
			vote(t, st, id, sv, "script")
		}
		// Ordinary voters: own addresses; some vote for one player only (one
		// signal), a family of four shares a router (one signal) and votes
		// for both players.
		for i := range 6 {
			id := user(t, st, fmt.Sprintf("fan%d@example.com", i), fmt.Sprintf("fan-%d", i))
			vote(t, st, id, sv, fmt.Sprintf("fan-%d", i))
		}
		for i := range 4 {
			id := user(t, st, fmt.Sprintf("family%d@example.com", i), fmt.Sprintf("family-signup-%d", i))
			vote(t, st, id, sv, "family-router")
			vote(t, st, id, rv, "family-router")
		}
		if got := votesOf(t, st, stuffed); got != 18 {
			t.Fatalf("stuffed player has %d votes, want 18", got)
		}

		csvPath := filepath.Join(t.TempDir(), "audit.csv")
		table := run(t, st, "-csv", csvPath, "-shared-address", "4")
		if !strings.Contains(table, "check: Σ rankings totals = 22 = votes that count") {
			t.Errorf("table without the totals check:\n%s", table)
		}
		f, _ := os.Open(csvPath)
		defer f.Close()
		records, err := csv.NewReader(f).ReadAll()
		if err != nil || len(records) != 3 || strings.Join(records[0], ",") != strings.Join(voteaudit.CSVHeader, ",") {
			t.Fatalf("CSV: %v %v", records, err)
		}
		first := map[string]string{}
		for i, h := range records[0] {
			first[h] = records[1][i]
		}
		if first["player_id"] != fmt.Sprint(stuffed) || first["flagged"] != "8" || first["burst"] != "8" || first["shared_address"] != "12" ||
			first["single_purpose"] != "14" || first["top_address"] != "script" || first["top_address_accounts"] != "8" {
			t.Errorf("first row: %v", first)
		}
		if first["flagged_accounts"] != strings.Join(bots, " ") {
			t.Errorf("flagged %q, want exactly the script's accounts %q (no ordinary voter)", first["flagged_accounts"], strings.Join(bots, " "))
		}
		// The family shares an address (one signal) but votes for two players: not flagged.
		if records[2][6] != "0" || records[2][8] != "4" {
			t.Errorf("the rival's row: %v", records[2])
		}

		out := run(t, st, "-void", first["flagged_accounts"], "-by", "ops@anb.example", "-reason", "8 cuentas en ráfaga desde una dirección")
		if !strings.Contains(out, "8 votes of 8 accounts voided") || !strings.Contains(out, "Σ rankings totals = 14") {
			t.Errorf("void output:\n%s", out)
		}
		if got := votesOf(t, st, stuffed); got != 10 {
			t.Errorf("after voiding the stuffed player has %d votes, want 10", got)
		}
		list := run(t, st, "-voids")
		if !strings.Contains(list, "ops@anb.example") || !strings.Contains(list, "8 cuentas en ráfaga") {
			t.Errorf("voidings list:\n%s", list)
		}
		if out := run(t, st, "-restore", "1", "-by", "ops2@anb.example"); !strings.Contains(out, "Σ rankings totals = 22") {
			t.Errorf("restore output:\n%s", out)
		}
		if got := votesOf(t, st, stuffed); got != 18 {
			t.Errorf("after restoring the stuffed player has %d votes, want 18", got)
		}
		if list := run(t, st, "-voids"); !strings.Contains(list, "ops2@anb.example") {
			t.Errorf("the restoring is not recorded:\n%s", list)
		}
	})
}

func TestBadArgumentsAreRefused(t *testing.T) {
	st := storetest.Open(t, "sqlite").Store
	for _, args := range [][]string{
		{"-void", "1,2"}, // no -by / -reason
		{"-void", "x", "-by", "a", "-reason", "b"},
		{"-restore", "1"},                // no -by
		{"-restore", "99", "-by", "ops"}, // no such voiding
		{"-burst-accounts", "1"},
		{"extra"},
	} {
		if err := voteaudit.Run(context.Background(), st, args, &bytes.Buffer{}); err == nil {
			t.Errorf("audit-votes %v accepted", args)
		}
	}
}
