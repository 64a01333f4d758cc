package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/httpapi"
	"github.com/anb/risingstars/app/mail"
	"github.com/anb/risingstars/app/mail/smtptest"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
)

func TestSignupIsThrottledPerAddressAndOverall(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		window := time.Hour
		limits := envOptions{noWorker: true, signups: httpapi.SignupThrottle{PerAddress: 3, Total: 5, Window: window}}
		// Two web nodes on one database: the counts are shared.
		nodes := []*env{newEnv(t, db, limits), newEnv(t, db, limits)}
		n := 0
		signup := func(address string) response {
			n++
			return nodes[n%2].callAs("POST", "/api/auth/signup", "", address, "", signupBody(strings.ReplaceAll(address, ".", "-")+"-"+string(rune('a'+n))+"@example.com"))
		}
		// Invalid signups take no slot.
		for range 5 {
			if r := nodes[0].callAs("POST", "/api/auth/signup", "", "203.0.113.1", "", map[string]string{"email": "x"}); r.status != http.StatusBadRequest {
				t.Fatalf("invalid signup: %d", r.status)
			}
		}
		for i := range 3 {
			if r := signup("203.0.113.1"); r.status != http.StatusCreated {
				t.Fatalf("signup %d from one address: %d %s", i+1, r.status, r.body)
			}
		}
		// The script at full speed: refused, and its refusals use up nothing.
		for range 10 {
			r := signup("203.0.113.1")
			blocked(t, r, window)
			if !strings.Contains(r.message(t), "desde tu dirección") {
				t.Fatalf("per-address refusal: %s", r.body)
			}
		}
		// Another person's signup is not blocked by that address's abuse.
		for i := range 2 {
			if r := signup("198.51.100.7"); r.status != http.StatusCreated {
				t.Fatalf("signup %d from another address: %d %s", i+1, r.status, r.body)
			}
		}
		// The overall cap (5) is reached by allowed signups only.
		r := signup("192.0.2.44")
		blocked(t, r, window)
		if !strings.Contains(r.message(t), "en la plataforma") {
			t.Fatalf("overall refusal: %s", r.body)
		}
	})
}

// The whole verification journey with a real SMTP server: the message
// arrives, its link verifies once, and under the rule "verified" the vote
// cast before moves the rankings only then.
func TestEmailVerificationAndTheVerifiedCountingRule(t *testing.T) {
	clip := hd(t)
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		smtpd := smtptest.Start(t)
		e := newEnv(t, db, envOptions{counting: httpapi.VoteCountingVerified,
			mailer: mail.SMTP{Addr: smtpd.Addr, From: "ANB Rising Stars <votos@anb.test>"}})
		bob := e.user("bob@example.com", "Bob", "Cali")
		video := e.uploadVideo(bob, clip, "Triple", true)
		e.waitStatus(bob, video, "processed", 30*time.Second)
		ana := e.user("ana@example.com", "Ana", "Cali")

		msg := smtpd.WaitFor(t, "ana@example.com", 10*time.Second)
		subject, parts := msg.Parts(t)
		if subject != "Confirma tu correo en ANB Rising Stars" || msg.From != "votos@anb.test" || !strings.Contains(parts["text/html"], "Confirmar mi correo") {
			t.Errorf("message: from %q subject %q html %q", msg.From, subject, parts["text/html"])
		}
		link := msg.Link(t)

		me := e.call("GET", "/api/auth/me", ana, nil).json(t)
		if me["email_verified"] != false || me["email"] != "ana@example.com" || me["votes_need_verification"] != true {
			t.Fatalf("profile before verification: %v", me)
		}
		r := e.callAs("POST", "/api/public/videos/"+video+"/vote", ana, "", "", nil)
		if v := r.json(t); r.status != http.StatusOK || v["message"] != "Voto registrado exitosamente." || v["pending"] != true || v["pending_reason"] == "" {
			t.Fatalf("unverified vote: %d %s", r.status, r.body)
		}
		votes := func() float64 {
			t.Helper()
			for _, row := range e.call("GET", "/api/public/rankings", "", nil).list(t) {
				if row["username"] == "Bob Pérez" {
					return row["votes"].(float64)
				}
			}
			t.Fatal("Bob is not ranked")
			return 0
		}
		if got := votes(); got != 0 {
			t.Fatalf("a pending vote counts in the rankings: %v", got)
		}
		for _, v := range e.call("GET", "/api/public/videos", ana, nil).list(t) {
			if v["video_id"] == video && (v["has_voted"] != true || v["vote_pending"] != true || v["votes"] != float64(0)) {
				t.Errorf("gallery item of the pending voter: %v", v)
			}
		}

		page := e.request("GET", strings.TrimPrefix(link, e.srv.URL), "", "", nil)
		if page.status != http.StatusOK || !strings.Contains(string(page.body), "Correo confirmado") ||
			!strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
			t.Fatalf("following the link: %d %s", page.status, page.body)
		}
		if got := votes(); got != 1 {
			t.Fatalf("after verification the rankings show %v votes, want 1", got)
		}
		if me := e.call("GET", "/api/auth/me", ana, nil).json(t); me["email_verified"] != true {
			t.Errorf("profile after verification: %v", me)
		}
		again := e.request("GET", strings.TrimPrefix(link, e.srv.URL), "", "", nil)
		if again.status != http.StatusBadRequest || !strings.Contains(string(again.body), "ya fue usado") {
			t.Errorf("second use of the link: %d %s", again.status, again.body)
		}
		if r := e.call("POST", "/api/auth/verification", ana, nil); r.status != http.StatusConflict {
			t.Errorf("resend once verified: %d %s", r.status, r.body)
		}
		for _, bad := range []string{"/api/auth/verify", "/api/auth/verify?token=nope", "/api/auth/verify?token=a&x=1"} {
			if r := e.request("GET", bad, "", "", nil); r.status != http.StatusBadRequest {
				t.Errorf("GET %s: %d", bad, r.status)
			}
		}
	})
}

func TestResendIsThrottledAndOnlyTheLatestLinkWorks(t *testing.T) {
	smtpd := smtptest.Start(t)
	e := newEnv(t, storetest.Open(t, "postgres"), envOptions{noWorker: true, mailer: mail.SMTP{Addr: smtpd.Addr, From: "votos@anb.test"}})
	ana := e.user("ana@example.com", "Ana", "Cali")
	smtpd.WaitFor(t, "ana@example.com", 10*time.Second)
	for i := range httpapi.DefaultVerificationResends {
		if r := e.call("POST", "/api/auth/verification", ana, nil); r.status != http.StatusAccepted || !strings.Contains(r.message(t), "ana@example.com") {
			t.Fatalf("resend %d: %d %s", i+1, r.status, r.body)
		}
	}
	blocked(t, e.call("POST", "/api/auth/verification", ana, nil), time.Hour)
	want := 1 + httpapi.DefaultVerificationResends
	deadline := time.Now().Add(10 * time.Second)
	for len(smtpd.Messages("ana@example.com")) < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	messages := smtpd.Messages("ana@example.com")
	if len(messages) != want {
		t.Fatalf("%d messages arrived, want %d", len(messages), want)
	}
	// Each message has its own link; only the last one made works (the
	// order they arrive in is the background sends', so try them all).
	worked := 0
	for _, m := range messages {
		link := m.Link(t)
		if r := e.request("GET", strings.TrimPrefix(link, e.srv.URL), "", "", nil); r.status == http.StatusOK {
			worked++
		} else if r.status != http.StatusBadRequest {
			t.Errorf("a superseded link: %d %s", r.status, r.body)
		}
	}
	if worked != 1 {
		t.Errorf("%d of %d links verified, want exactly 1", worked, want)
	}
}

// Each vote records a keyed hash of its client address and user agent: the
// audit sees that two accounts voted from one address without the address
// being stored.
func TestVotesRecordHashedAddressAndAgent(t *testing.T) {
	clip := hd(t)
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{})
		owner := e.user("owner@example.com", "Olga", "Cali")
		video := e.uploadVideo(owner, clip, "Bandeja", true)
		e.waitStatus(owner, video, "processed", 30*time.Second)
		for _, email := range []string{"a@example.com", "b@example.com"} {
			token := e.user(email, "Fan", "Cali")
			if r := e.callAs("POST", "/api/public/videos/"+video+"/vote", token, "198.51.100.7", "Mozilla/5.0 prueba", nil); r.status != http.StatusOK || string(r.body) != `{"message":"Voto registrado exitosamente."}`+"\n" {
				t.Fatalf("vote: %d %s", r.status, r.body)
			}
		}
		// The owner may vote for their own video (README, "Vote integrity").
		if r := e.callAs("POST", "/api/public/videos/"+video+"/vote", owner, "203.0.113.5", "", nil); r.status != http.StatusOK {
			t.Fatalf("owner's own vote: %d %s", r.status, r.body)
		}
		rows, err := db.Store.Audit(context.Background(), store.AuditRules{BurstAccounts: 100, BurstWindow: time.Minute, SharedAddress: 2})
		if err != nil || len(rows) != 1 {
			t.Fatalf("audit: %+v %v", rows, err)
		}
		r := rows[0]
		if r.Votes != 3 || r.Voters != 3 || r.TopAddressAccounts != 2 || r.SharedAddress != 2 || len(r.TopAddress) != 32 || strings.Contains(r.TopAddress, "198") {
			t.Errorf("audit row: %+v", r)
		}
	})
}
