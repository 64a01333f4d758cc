package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/anb/risingstars/app/mail/smtptest"
	"github.com/anb/risingstars/app/mp4/mediatest"
)

// The browser test drives the real page, served by the real server binary,
// in headless Chromium: two users, an upload that gets processed, a vote
// that waits for the voter's e-mail verification (the server counts
// verified votes only and mails through a real SMTP server the test runs),
// the verification link followed in the browser, and the ranking. It is black-box: it builds ./app, starts it on a free port
// with a fresh data folder and talks to it only through the browser.
//
// Environment:
//   ANB_CHROMIUM       the browser (default /usr/bin/chromium)
//   ANB_ARTIFACTS_DIR  where screenshots and the server log go
//                      (default app/web/testdata/screenshots, git-ignored)
//   ANB_BASE_URL       test an already running deployment instead of building one

const processingTimeout = 3 * time.Minute

type player struct {
	first, last, email, password, city, country string
}

func (p player) name() string { return p.first + " " + p.last }

func TestBrowserJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser journey builds the server and processes a video; skipped with -short")
	}
	chromium := os.Getenv("ANB_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no Chromium at %s (set ANB_CHROMIUM): %v", chromium, err)
	}

	artifacts := artifactsDir(t)
	smtpd := smtptest.Start(t)
	base := startServer(t, artifacts, "ANB_VOTE_COUNTING=verified", "ANB_SMTP_ADDR="+smtpd.Addr, "ANB_MAIL_FROM=ANB Rising Stars <votos@anb.test>")
	clip := makeClip(t)

	browser := startBrowser(t, chromium)
	j := &journey{t: t, base: base, artifacts: artifacts}

	suffix := time.Now().Format("150405.000")
	suffix = strings.ReplaceAll(suffix, ".", "")
	a := player{"Valentina", "Rojas", "valentina." + suffix + "@example.com", "canasta-de-tres", "Bogotá " + suffix, "Colombia"}
	b := player{"Mateo", "Gómez", "mateo." + suffix + "@example.com", "rebote-ofensivo", "Medellín", "Colombia"}

	// User A: sign up (which logs in), upload a 1080p clip, watch it get processed and play it.
	tabA := j.tab(browser)
	j.do(tabA, "open sign up", chromedp.Navigate(base+"/#/signup"), chromedp.WaitVisible(chromedp.ID("signup-form")))
	j.fillSignup(tabA, a)
	j.shot(tabA, "01-signup")
	j.do(tabA, "submit sign up", chromedp.Click(chromedp.CSS(`#signup-form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("upload-form")))
	if msg := j.text(tabA, ".flash-region .alert-message"); !strings.Contains(msg, "Te enviamos un mensaje a "+a.email) {
		t.Errorf("after signing up the page says %q, want that a verification message was sent", msg)
	}

	// A QuickTime movie named .mp4 is refused before it is sent, with the
	// reason and what to do.
	j.do(tabA, "choose a QuickTime movie",
		chromedp.SetUploadFiles(chromedp.ID("video-file"), []string{quickTimeCopy(t, clip)}),
		chromedp.WaitVisible(chromedp.ID("video-file-error")))
	if msg := j.text(tabA, "#video-file-error"); !strings.Contains(msg, "QuickTime") || !strings.Contains(msg, "MP4") {
		t.Errorf("QuickTime file: the page says %q", msg)
	}
	j.do(tabA, "fill upload form",
		chromedp.SendKeys(chromedp.ID("title"), "Triple sobre la bocina"),
		chromedp.SetUploadFiles(chromedp.ID("video-file"), []string{clip}),
		chromedp.WaitVisible(chromedp.ID("file-info")))
	j.shot(tabA, "02-upload-form")
	j.uploadWithProgress(tabA)
	j.shot(tabA, "04-upload-done")

	j.do(tabA, "open my videos", chromedp.Click(chromedp.ID("go-mine")), chromedp.WaitVisible(chromedp.CSS(`.video-card.mine`)))
	j.shot(tabA, "05-mine-processing")
	status := j.waitProcessed(tabA)
	if status != "processed" {
		reason, _ := chromedp.Run(tabA, chromedp.Text(chromedp.CSS(`.video-card.mine`)))
		t.Fatalf("the video ended %q instead of processed; the card says: %s", status, reason)
	}
	videoID := j.attr(tabA, `.video-card.mine`, "data-video-id")
	// The private player plays through signed links: no token in any URL.
	for _, name := range []string{"src", "poster"} {
		if u := j.attr(tabA, `.video-card.mine video`, name); !strings.Contains(u, "signature=") || strings.Contains(u, "access_token") {
			t.Errorf("my video's %s is %q, want a signed link", name, u)
		}
	}
	j.playVideo(tabA, `.video-card.mine video`)
	j.shot(tabA, "06-mine-processed")

	// User B: sign up, log out, fail a login, log in, vote for A's video.
	tabB := j.tab(browser)
	j.do(tabB, "open sign up (B)", chromedp.Navigate(base+"/#/signup"), chromedp.WaitVisible(chromedp.ID("signup-form")))
	j.fillSignup(tabB, b)
	j.do(tabB, "submit sign up (B)", chromedp.Click(chromedp.CSS(`#signup-form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("upload-form")))
	j.do(tabB, "log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))

	j.do(tabB, "log in with a wrong password",
		chromedp.SendKeys(chromedp.ID("f-email"), b.email),
		chromedp.SendKeys(chromedp.ID("f-password"), "not-the-password"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.form-messages .alert-error .alert-message`)))
	if msg := j.text(tabB, `.form-messages .alert-error .alert-message`); strings.TrimSpace(msg) == "" {
		t.Errorf("a failed login shows no message")
	} else {
		t.Logf("failed login shows: %q", msg)
	}
	j.shot(tabB, "07-login-error")
	// This time with the keyboard only: Enter submits the form.
	j.do(tabB, "log in",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('f-password').value = ''`),
		chromedp.SendKeys(chromedp.ID("f-password"), b.password+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`.hero`)))

	card := fmt.Sprintf(`.video-card[data-video-id=%q]`, videoID)
	j.do(tabB, "see A's video in the gallery", chromedp.WaitVisible(chromedp.CSS(card+` button.vote-button`)))
	if got := j.text(tabB, card+` .player-name`); got != a.name() {
		t.Errorf("gallery player name = %q, want %q", got, a.name())
	}
	if got := j.text(tabB, card+` .player-place`); !strings.Contains(got, a.city) {
		t.Errorf("gallery place = %q, want it to name %q", got, a.city)
	}
	if got := j.attr(tabB, card+` .votes-count`, "data-votes"); got != "0" {
		t.Errorf("votes before voting = %s, want 0", got)
	}
	j.shot(tabB, "08-gallery-before-vote")
	if os.Getenv("ANB_BASE_URL") == "" {
		j.pendingVoteThenVerify(tabB, smtpd, card, b)
	} else {
		// A deployment's mail does not reach this test: its rule must be "all".
		j.do(tabB, "vote with the keyboard",
			chromedp.Focus(chromedp.CSS(card+` button.vote-button`)),
			chromedp.KeyEvent(kb.Enter),
			chromedp.WaitVisible(chromedp.CSS(card+` .votes-count[data-votes="1"]`)))
	}

	// The ranking of A's city, typed in capitals and without its accent,
	// shows A first with one vote. A deployment may cache rankings for a
	// few seconds, so "Filtrar" is pressed again until then.
	j.do(tabB, "filter the ranking by city",
		chromedp.Navigate(base+"/#/rankings"),
		chromedp.WaitVisible(chromedp.ID("rankings-filter")),
		chromedp.SendKeys(chromedp.ID("ranking-city"), strings.ToUpper(strings.ReplaceAll(a.city, "á", "a"))))
	wantRows, _ := json.Marshal([][]string{{"1", a.name(), a.city, "1"}})
	var rows string
	for deadline := time.Now().Add(30 * time.Second); ; {
		j.do(tabB, "apply the filter",
			chromedp.Click(chromedp.CSS(`#rankings-filter button[type=submit]`)),
			chromedp.Poll[chromedp.Void](`!document.querySelector('#view [aria-busy]')`, chromedp.WithPollingInterval(50*time.Millisecond)))
		rows = j.eval(tabB, `[...document.querySelectorAll('.ranking-table tbody tr')].map(r => [...r.cells].map(c => c.textContent.trim()))`)
		var cells [][]string // re-encoded: the browser escapes non-ASCII letters, Go does not
		if json.Unmarshal([]byte(rows), &cells) == nil {
			b, _ := json.Marshal(cells)
			rows = string(b)
		}
		if rows == string(wantRows) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if rows != string(wantRows) {
		t.Errorf("ranking rows = %s, want %s", rows, wantRows)
	}
	// The total comes from X-Total-Count.
	if caption := j.text(tabB, ".ranking-table caption"); !strings.Contains(caption, "1 jugador") {
		t.Errorf("ranking caption = %q, want the total of 1 player", caption)
	}
	j.shot(tabB, "10-rankings")

	// A narrow screen gets the same page, laid out for it.
	j.do(tabB, "gallery on a phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/#/gallery"), chromedp.WaitVisible(chromedp.CSS(card)))
	j.shot(tabB, "11-gallery-phone")
	j.do(tabB, "back to desktop size", chromedp.EmulateViewport(1280, 900))

	// A token the API refuses (an expired session) sends the user to log in.
	j.do(tabB, "use an invalid token",
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem('anb.session', JSON.stringify({token: 'not-a-valid-token', email: 'caducado@example.com'}))`),
		chromedp.Navigate(base+"/#/mine"),
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.WaitVisible(chromedp.CSS(`.flash-region .alert-warning`)))
	if left := j.eval(tabB, `String(localStorage.getItem('anb.session'))`); left != `"null"` {
		t.Errorf("after a 401 the session is still stored: %s", left)
	}
	if loc := j.eval(tabB, `location.hash`); !strings.HasPrefix(loc, `"#/login`) {
		t.Errorf("after a 401 the page is %s, want the login page", loc)
	}
	j.shot(tabB, "12-session-expired")

	// A visitor without an account sees the votes and is offered to log in.
	anon := j.tab(browser)
	j.do(anon, "gallery without an account",
		chromedp.Navigate(base+"/#/gallery"),
		chromedp.WaitVisible(chromedp.CSS(card+` a.vote-button[href^="#/login"]`)))
	if got := j.attr(anon, card+` .votes-count`, "data-votes"); got != "1" {
		t.Errorf("votes seen without an account = %s, want 1", got)
	}
	j.shot(anon, "13-gallery-anonymous")

	j.checkNoScriptErrors()
}

// pendingVoteThenVerify: under the rule "verified", the voter's vote is
// pending until the voter follows the link of their e-mail, which the
// profile can send again; then it counts.
func (j *journey) pendingVoteThenVerify(tab context.Context, smtpd *smtptest.Server, card string, b player) {
	base := j.base
	// B's e-mail is not verified: the vote is stored but pending, and the
	// count does not move.
	j.do(tab, "vote with the keyboard",
		chromedp.Focus(chromedp.CSS(card+` button.vote-button`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(card+` button.vote-button.vote-pending[disabled]`)))
	if note := j.text(tab, card+` .vote-pending-note`); !strings.Contains(note, "cuando confirmes tu correo") {
		j.t.Errorf("the pending vote says %q", note)
	}
	if got := j.attr(tab, card+` .votes-count`, "data-votes"); got != "0" {
		j.t.Errorf("votes after a pending vote = %s, want 0", got)
	}
	j.shot(tab, "09-gallery-vote-pending")
	j.do(tab, "reload the gallery", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(card+` button.vote-button.vote-pending[disabled]`)))

	// The profile says the e-mail is not verified and sends the message again.
	j.do(tab, "open the profile", chromedp.Navigate(base+"/#/profile"), chromedp.WaitVisible(chromedp.CSS(`#email-status[data-verified=false]`)))
	j.do(tab, "resend the verification message",
		chromedp.Click(chromedp.ID("resend-verification")),
		chromedp.WaitVisible(chromedp.CSS(`.profile-card .alert-success`)))
	j.shot(tab, "09b-profile-unverified")
	// The newest message's link is the one that works.
	deadline := time.Now().Add(30 * time.Second)
	for len(smtpd.Messages(b.email)) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	messages := smtpd.Messages(b.email)
	if len(messages) != 2 {
		j.t.Fatalf("%d messages to B, want 2 (signup and resend)", len(messages))
	}
	verified := false
	for _, m := range messages {
		j.do(tab, "follow a verification link", chromedp.Navigate(m.Link(j.t)), chromedp.WaitVisible(chromedp.ID("verify-result")))
		if strings.Contains(j.text(tab, "h1"), "Correo confirmado") {
			verified = true
			j.shot(tab, "09c-email-verified")
		}
	}
	if !verified {
		j.t.Fatal("no verification link of B's messages verified the e-mail")
	}
	j.do(tab, "the profile says verified", chromedp.Navigate(base+"/#/profile"), chromedp.WaitVisible(chromedp.CSS(`#email-status[data-verified=true]`)))
	j.do(tab, "the vote counts now", chromedp.Navigate(base+"/#/gallery"),
		chromedp.WaitVisible(chromedp.CSS(card+` .votes-count[data-votes="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+` button.vote-button.voted[disabled]`)))
	if pending := j.eval(tab, fmt.Sprintf(`document.querySelector(%q).classList.contains('vote-pending')`, card+` button.vote-button`)); pending != "false" {
		j.t.Errorf("after verification the vote is still shown pending")
	}
	j.shot(tab, "09d-gallery-voted")
}

// journey holds what the steps share; its helpers fail the test with the
// name of the step.
type journey struct {
	t         *testing.T
	base      string
	artifacts string

	mu           sync.Mutex
	scriptErrors []string
}

func (j *journey) tab(browser context.Context) context.Context {
	j.t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	j.t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		j.t.Fatalf("open a tab: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "uncaught exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			// Content-Security-Policy refusals and other browser complaints
			// about the page; failed requests (source "network") are expected.
			if ev.Entry.Level != cdplog.EntryLevelError || ev.Entry.Source == cdplog.EntrySourceNetwork {
				return
			}
			msg = fmt.Sprintf("browser %s error: %s", ev.Entry.Source, ev.Entry.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			msg = "console.error: " + strings.Join(parts, " ")
		default:
			return
		}
		j.mu.Lock()
		j.scriptErrors = append(j.scriptErrors, msg)
		j.mu.Unlock()
	})
	if err != nil {
		j.t.Fatalf("listen to the tab: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		j.t.Fatalf("enable the log of the tab: %v", err)
	}
	return ctx
}

func (j *journey) checkNoScriptErrors() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, e := range j.scriptErrors {
		j.t.Errorf("the page logged a script error: %s", e)
	}
}

// do runs the steps of one named action with a bounded time.
func (j *journey) do(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	j.t.Helper()
	j.doWithin(ctx, 30*time.Second, what, steps...)
}

func (j *journey) doWithin(ctx context.Context, limit time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	j.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		j.shot(ctx, "failed-"+strings.ReplaceAll(what, " ", "-"))
		j.t.Fatalf("%s: %v", what, err)
	}
}

func (j *journey) eval(ctx context.Context, expr string) string {
	j.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(tctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		j.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return string(raw)
}

func (j *journey) text(ctx context.Context, sel string) string {
	j.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		j.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (j *journey) attr(ctx context.Context, sel, name string) string {
	j.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[*string](fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) ?? null`, sel, name)))
	if err != nil || v == nil {
		j.t.Fatalf("attribute %s of %s: missing (%v)", name, sel, err)
	}
	return *v
}

// shot saves a full-page PNG and logs its path.
func (j *journey) shot(ctx context.Context, name string) {
	j.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		j.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(j.artifacts, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		j.t.Errorf("save screenshot: %v", err)
		return
	}
	j.t.Logf("screenshot: %s", p)
}

func (j *journey) fillSignup(ctx context.Context, p player) {
	j.t.Helper()
	j.do(ctx, "fill sign up",
		chromedp.SendKeys(chromedp.ID("f-first_name"), p.first),
		chromedp.SendKeys(chromedp.ID("f-last_name"), p.last),
		chromedp.SendKeys(chromedp.ID("f-email"), p.email),
		chromedp.SendKeys(chromedp.ID("f-password1"), p.password),
		chromedp.SendKeys(chromedp.ID("f-password2"), p.password),
		chromedp.SendKeys(chromedp.ID("f-city"), p.city),
		chromedp.SendKeys(chromedp.ID("f-country"), p.country))
}

// uploadWithProgress slows the upload down so the progress bar is seen
// moving, and checks that upload progress events (not the final answer)
// moved it.
func (j *journey) uploadWithProgress(ctx context.Context) {
	j.t.Helper()
	size := j.eval(ctx, `document.getElementById('video-file').files[0].size`)
	var bytes float64
	fmt.Sscan(size, &bytes)
	throttle := func(rate float64) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
				MatchedNetworkConditions: []*network.Conditions{{UploadThroughput: rate, DownloadThroughput: -1}},
			})
			return err
		})
	}
	j.do(ctx, "watch the progress bar", chromedp.Evaluate[chromedp.Void](`
		window.__progress = [];
		new MutationObserver(() => {
			const bar = document.getElementById('upload-progress');
			window.__progress.push({value: bar.value, answered: !!document.getElementById('go-mine')});
		}).observe(document.getElementById('upload-progress'), {attributes: true});
	`), throttle(bytes/4)) // about four seconds of upload
	j.do(ctx, "start the upload", chromedp.Click(chromedp.ID("upload-submit")))
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := chromedp.Run(tctx, chromedp.Poll[bool](`(() => { const v = document.getElementById('upload-progress').value; return v >= 20 && v <= 80; })()`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second)))
	cancel()
	if err == nil {
		j.shot(ctx, "03-upload-progress")
	} else {
		j.t.Logf("no screenshot of the progress bar half way: %v", err)
	}
	j.do(ctx, "restore the network", throttle(-1))
	j.doWithin(ctx, 2*time.Minute, "finish the upload", chromedp.WaitVisible(chromedp.ID("go-mine")))
	if got := j.eval(ctx, `window.__progress.some(p => p.value > 0 && !p.answered)`); got != "true" {
		j.t.Errorf("the progress bar did not move before the server answered (records %s)", j.eval(ctx, `JSON.stringify(window.__progress)`))
	}
	if got := j.eval(ctx, `document.getElementById('upload-progress').value`); got != "100" {
		j.t.Errorf("progress after the upload = %s, want 100", got)
	}
}

// waitProcessed waits until the page itself shows a final status.
func (j *journey) waitProcessed(ctx context.Context) string {
	j.t.Helper()
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, processingTimeout+10*time.Second)
	defer cancel()
	status, err := chromedp.Run(tctx, chromedp.Poll[string](`(() => {
		const s = document.querySelector('.video-card.mine')?.dataset.status;
		return s === 'processed' || s === 'failed' ? s : false;
	})()`, chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(processingTimeout)))
	if err != nil {
		j.shot(ctx, "failed-processing")
		j.t.Fatalf("the status did not reach processed or failed within %s: %v", processingTimeout, err)
	}
	j.t.Logf("status %s shown after %s", status, time.Since(start).Round(time.Second))
	return status
}

// playVideo starts the player and waits until it has decoded frames.
func (j *journey) playVideo(ctx context.Context, sel string) {
	j.t.Helper()
	j.doWithin(ctx, 40*time.Second, "play the video",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(async () => {
			const v = document.querySelector(%q);
			v.muted = true;
			await v.play();
		})()`, sel), chromedp.EvalAwaitPromise),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const v = document.querySelector(%q); return v.readyState >= 2 && v.currentTime > 3; })()`, sel),
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).pause()`, sel)))
	dims := j.eval(ctx, fmt.Sprintf(`(() => { const v = document.querySelector(%q); return [v.readyState, v.videoWidth, v.videoHeight]; })()`, sel))
	j.t.Logf("video readyState, width, height: %s", dims)
	if !strings.HasSuffix(dims, ",1280,720]") {
		j.t.Errorf("the processed video plays at %s, want 1280x720", dims)
	}
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ANB_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
		_ = os.RemoveAll(dir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifacts: %s", dir)
	return dir
}

func startBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.UserDataDir(t.TempDir()),
	)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return browser
}

// startServer builds ./app and runs it on a free port with a fresh data
// folder, in-process workers and the extra settings, or returns
// ANB_BASE_URL when it is set (a deployment counting every vote: its
// verification mail cannot reach the test).
func startServer(t *testing.T, artifacts string, settings ...string) string {
	t.Helper()
	if u := os.Getenv("ANB_BASE_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	bin := filepath.Join(t.TempDir(), "anb")
	build := exec.Command("go", "build", "-o", bin, "./app")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./app: %v\n%s", err, out)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	logPath := filepath.Join(artifacts, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(withoutANB(os.Environ()),
		"ANB_ADDR="+addr,
		"ANB_DATA_DIR="+t.TempDir(),
		"ANB_RANKINGS_CACHE_TTL=0",
		"ANB_WORKERS=1",
	)
	cmd.Env = append(cmd.Env, settings...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("the server did not stop within 15 s of SIGTERM; killing it")
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		t.Logf("server log: %s", logPath)
	})

	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(logPath)
			t.Fatalf("the server exited at start: %v\n%s", err, log)
		default:
		}
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/health did not answer 200 within 60 s (last error %v)", base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// withoutANB drops the ANB_* settings of the caller, so the server runs on
// exactly the configuration the test gives it.
func withoutANB(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ANB_") {
			out = append(out, kv)
		}
	}
	return out
}

// makeClip returns a 21 s 1920x1080 MP4 (shared across tests, made once).
// quickTimeCopy is the clip with the major brand of a QuickTime movie.
func quickTimeCopy(t *testing.T, clip string) string {
	t.Helper()
	b, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[8:12], "qt  ")
	path := filepath.Join(t.TempDir(), "jugada.mp4")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func makeClip(t *testing.T) string {
	t.Helper()
	return mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 21})
}
