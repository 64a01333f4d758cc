package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/httpapi"
	"github.com/anb/risingstars/app/mail"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
	"github.com/anb/risingstars/app/videos"
	"github.com/google/uuid"
)

// The attack scenario against the real API and PostgreSQL: the script gets
// exactly the per-address limit of accounts in (a small one, so the run is
// short whatever the machine's load), and the audit flags those accounts and
// no normal user.
func TestAttackScenario(t *testing.T) {
	db := storetest.Open(t, "postgres")
	ctx := context.Background()
	owner := store.User{FirstName: "Ana", LastName: "Pérez", Email: "ana@example.com", PasswordHash: "x", City: "Cali", Country: "CO"}
	if err := db.Store.CreateUser(ctx, &owner); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		v := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: owner.ID, Title: "Triple", IsPublic: true}
		if err := db.Store.CreateVideo(ctx, &v); err != nil {
			t.Fatal(err)
		}
		db.Store.BeginProcessing(ctx, v.ID)
		if err := db.Store.FinishProcessing(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{
		Accounts: db.Store, Catalog: db.Store, Database: db.Store, Videos: &videos.Service{Library: db.Store},
		Tokens: auth.NewTokens([]byte("attack-test-secret-attack-test-secret"), time.Hour), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		SpoolDir: t.TempDir(), Mailer: mail.Outbox{Dir: t.TempDir(), From: "votos@anb.test"},
		SignupThrottle: httpapi.SignupThrottle{PerAddress: 4},
	}))
	defer srv.Close()
	out := t.TempDir()
	o := &options{base: srv.URL, out: out, db: db.DSN, duration: 3 * time.Second, think: 50 * time.Millisecond,
		normalUsers: 4, attackers: 2, auditBurst: 3, auditShared: 3}
	if err := runAttack(ctx, o); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "attack.md"))
	if err != nil {
		t.Fatal(err)
	}
	report := string(b)
	for _, want := range []string{
		"| accounts created | 4 |",
		"| votes accepted | 4 |",
		"| of which the script's | 4 of 4 (recall 100 %) |",
		"| of which normal users of this run | 0 of 4 |",
		"| precision | 100 % |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}
