package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anb/risingstars/app/apidoc"
	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/httpapi"
	"github.com/anb/risingstars/app/mail"
	"github.com/anb/risingstars/app/mp4/mediatest"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
	"github.com/anb/risingstars/app/videos"
	"github.com/google/uuid"
)

var openapiValidator = func() *apidoc.Validator {
	v, err := apidoc.NewValidator()
	if err != nil {
		panic(err)
	}
	return v
}()

const testSecret = "test-secret-test-secret-test-secret"

// env is a running API with a real database, disk storage, the in-process
// queue and a worker whose media step is given by the test.
type env struct {
	t        *testing.T
	db       storetest.DB
	srv      *httptest.Server
	client   *http.Client
	blobDir  string
	spoolDir string
	tokens   *auth.Tokens
}

// transcoder is the media step of the stand-in worker.
type transcoder interface {
	Transcode(ctx context.Context, in, out, poster string) error
}

// worker stands in for the worker tier: it takes each task from the
// in-process queue and drives the processing state machine (app/videos)
// with the media step the test chooses. The worker's own task loop
// (heartbeats, backoff, shutdown, dead letters) is tested with the worker.
type worker struct {
	states *videos.Processing
	blobs  blob.Store
	media  transcoder
	dir    string
}

func (w *worker) run(ctx context.Context, q *queue.Local) {
	for {
		d, err := q.Receive(ctx)
		if err != nil {
			return
		}
		id := d.Task().VideoID
		if _, err := w.states.Start(ctx, id); err != nil {
			d.Ack(ctx)
			continue
		}
		if err := w.transcode(ctx, id); err != nil {
			if verdict, err := w.states.Fail(ctx, id, err); err == nil && !verdict.GiveUp {
				d.Retry(ctx, 10*time.Millisecond)
			}
			continue
		}
		w.states.Finish(ctx, id, 0)
		d.Ack(ctx)
	}
}

func (w *worker) transcode(ctx context.Context, id string) error {
	r, err := w.blobs.Get(ctx, blob.OriginalKey(id))
	if err != nil {
		return err
	}
	defer r.Close()
	in, out, poster := filepath.Join(w.dir, id+".mp4"), filepath.Join(w.dir, id+"-out.mp4"), filepath.Join(w.dir, id+".jpg")
	b, err := io.ReadAll(r)
	if err == nil {
		err = os.WriteFile(in, b, 0o644)
	}
	if err == nil {
		err = w.media.Transcode(ctx, in, out, poster)
	}
	if err == nil {
		err = w.blobs.PutFile(ctx, blob.ProcessedKey(id), out)
	}
	if err == nil {
		err = w.blobs.PutFile(ctx, blob.PosterKey(id), poster)
	}
	return err
}

type envOptions struct {
	media      transcoder // nil: mediatest.Copy
	noWorker   bool
	rankingTTL time.Duration
	storage    func(blob.Store) blob.Store // wraps the disk storage, e.g. to make it fail
	cors       []string
	throttle   httpapi.LoginThrottle
	trusted    []netip.Prefix
	signups    httpapi.SignupThrottle // zero: limits out of reach (tests sign up many users from loopback)
	counting   string
	mailer     httpapi.Mailer // nil: an outbox folder
	publicURL  string
}

func newEnv(t *testing.T, db storetest.DB, opts envOptions) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, db: db, blobDir: filepath.Join(dir, "blobs"), spoolDir: filepath.Join(dir, "spool"),
		tokens: auth.NewTokens([]byte(testSecret), time.Hour)}
	if err := os.MkdirAll(e.spoolDir, 0o755); err != nil {
		t.Fatal(err)
	}
	disk, err := blob.NewDisk(e.blobDir)
	if err != nil {
		t.Fatal(err)
	}
	var blobs blob.Store = disk
	if opts.storage != nil {
		blobs = opts.storage(disk)
	}
	log := suiteLog(t)
	q := queue.NewLocal()
	if !opts.noWorker {
		media := opts.media
		if media == nil {
			media = mediatest.Copy{}
		}
		ctx, cancel := context.WithCancel(context.Background())
		w := &worker{states: &videos.Processing{Store: db.Store, Files: blobs, Log: log}, blobs: blobs, media: media, dir: dir}
		done := make(chan struct{})
		go func() { w.run(ctx, q); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	signups := opts.signups
	if signups == (httpapi.SignupThrottle{}) {
		signups = httpapi.SignupThrottle{PerAddress: 1_000_000, Total: 1_000_000}
	}
	var mailer httpapi.Mailer = mail.Outbox{Dir: filepath.Join(dir, "outbox"), From: "ANB <no-reply@anb.test>"}
	if opts.mailer != nil {
		mailer = opts.mailer
	}
	e.srv = httptest.NewServer(httpapi.New(httpapi.Config{
		Accounts: db.Store, Catalog: db.Store, Database: db.Store, Videos: &videos.Service{Library: db.Store, Files: blobs, Queue: q, Log: log},
		Blobs: blobs, Tokens: e.tokens, Log: log,
		SpoolDir: e.spoolDir, RankingsCacheTTL: opts.rankingTTL,
		CORSOrigins: opts.cors, LoginThrottle: opts.throttle, TrustedProxies: opts.trusted,
		SignupThrottle: signups, VoteCounting: opts.counting, Mailer: mailer, PublicURL: opts.publicURL,
	}))
	t.Cleanup(e.srv.Close)
	// Every request and response of these tests must match the published contract.
	e.client = &http.Client{Transport: openapiValidator.Transport(e.srv.Client().Transport, func(err error) { t.Errorf("contract: %v", err) })}
	return e
}

// failingMedia fails every run and counts them.
type failingMedia struct{ runs atomic.Int32 }

func (f *failingMedia) Transcode(context.Context, string, string, string) error {
	f.runs.Add(1)
	return fmt.Errorf("ffmpeg: Invalid data found when processing input")
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body is not a JSON object: %s", r.status, r.body)
	}
	return m
}

func (r response) list(t *testing.T) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("status %d, body is not a JSON array: %s", r.status, r.body)
	}
	return l
}

// message is the error message, which every error must carry.
func (r response) message(t *testing.T) string {
	t.Helper()
	msg, _ := r.json(t)["message"].(string)
	if msg == "" {
		t.Fatalf("status %d without a message: %s", r.status, r.body)
	}
	return msg
}

// send is every helper's request through the contract-checking client.
func (e *env) send(method, path string, header http.Header, body io.Reader) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) request(method, path, token, contentType string, body io.Reader) response {
	e.t.Helper()
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		header.Set("Content-Type", contentType)
	}
	return e.send(method, path, header, body)
}

// call sends body as JSON (a string as it is); nil sends no body.
func (e *env) call(method, path, token string, body any) response {
	e.t.Helper()
	return e.callAs(method, path, token, "", "", body)
}

// callAs is call from a client at forwardedFor (behind the loopback
// balancer, "" = none) with a User-Agent ("" = Go's).
func (e *env) callAs(method, path, token, forwardedFor, agent string, body any) response {
	e.t.Helper()
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	if forwardedFor != "" {
		header.Set("X-Forwarded-For", forwardedFor)
	}
	if agent != "" {
		header.Set("User-Agent", agent)
	}
	if body == nil {
		return e.send(method, path, header, nil)
	}
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		raw = string(b)
	}
	header.Set("Content-Type", "application/json")
	return e.send(method, path, header, strings.NewReader(raw))
}

func signupBody(email string) map[string]string {
	return map[string]string{"first_name": "Ana", "last_name": "Pérez", "email": email,
		"password1": "clave-segura", "password2": "clave-segura", "city": "Bogotá", "country": "Colombia"}
}

// user signs up and logs in a new player; it returns the token.
func (e *env) user(email, first, city string) string {
	e.t.Helper()
	body := signupBody(email)
	body["first_name"], body["city"] = first, city
	if r := e.call("POST", "/api/auth/signup", "", body); r.status != http.StatusCreated {
		e.t.Fatalf("signup %s: %d %s", email, r.status, r.body)
	}
	r := e.call("POST", "/api/auth/login", "", map[string]string{"email": email, "password": "clave-segura"})
	if r.status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	return r.json(e.t)["access_token"].(string)
}

// pendingVideo saves a public video of the user that no worker will ever
// process (no task is sent), for checks that need one still uploaded.
func (e *env) pendingVideo(email, title string) string {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.db.Store.UserByEmail(ctx, email)
	if err != nil {
		e.t.Fatal(err)
	}
	v := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: u.ID, Title: title, IsPublic: true}
	if err := e.db.Store.CreateVideo(ctx, &v); err != nil {
		e.t.Fatal(err)
	}
	return v.ID
}

// upload posts a multipart upload; fields are sent in order, and a field
// named video_file is read from the path given as its value.
func (e *env) upload(token string, fields ...[2]string) response {
	e.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, f := range fields {
				if f[0] != "video_file" {
					if err := mw.WriteField(f[0], f[1]); err != nil {
						return err
					}
					continue
				}
				w, err := mw.CreateFormFile("video_file", filepath.Base(f[1]))
				if err != nil {
					return err
				}
				file, err := os.Open(f[1])
				if err != nil {
					return err
				}
				_, err = io.Copy(w, file)
				file.Close()
				if err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	return e.request("POST", "/api/videos/upload", token, mw.FormDataContentType(), pr)
}

// uploadVideo uploads a valid clip and returns its id.
func (e *env) uploadVideo(token, clip, title string, public bool) string {
	e.t.Helper()
	r := e.upload(token, [2]string{"title", title}, [2]string{"is_public", fmt.Sprint(public)}, [2]string{"video_file", clip})
	if r.status != http.StatusCreated {
		e.t.Fatalf("upload: %d %s", r.status, r.body)
	}
	return r.json(e.t)["video_id"].(string)
}

// waitStatus polls the owner's view of a video until it reaches want.
func (e *env) waitStatus(token, id, want string, timeout time.Duration) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := e.call("GET", "/api/videos/"+id, token, nil)
		if r.status != http.StatusOK {
			e.t.Fatalf("get video: %d %s", r.status, r.body)
		}
		v := r.json(e.t)
		if v["status"] == want {
			return v
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("video %s is %v after %s, want %s", id, v["status"], timeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// files lists what storage holds, relative to its root.
func (e *env) files() []string {
	e.t.Helper()
	var out []string
	for _, dir := range []string{e.blobDir, e.spoolDir} {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(filepath.Dir(dir), path)
				out = append(out, rel)
			}
			return nil
		})
	}
	return out
}

// padded copies clip and appends an MP4 "free" box so the file reaches
// size bytes while staying a valid MP4.
func padded(t testing.TB, clip string, size int64) string {
	t.Helper()
	src, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "padded.mp4")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	free := size - int64(len(src))
	header := []byte{byte(free >> 24), byte(free >> 16), byte(free >> 8), byte(free), 'f', 'r', 'e', 'e'}
	if _, err := f.Write(append(src, header...)); err != nil {
		t.Fatal(err)
	}
	// Truncate extends the file with zeros: the body of the free box.
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}
