package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/config"
	"github.com/anb/risingstars/app/platform"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/queue/sqstest"
	"github.com/anb/risingstars/app/secrets/secretstest"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
	"github.com/google/uuid"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// TestOpenOnAWSServices configures a node the way the CDK stack does (only
// ARNs, bucket and queue URL in its environment) against stand-ins speaking
// the real protocols: Secrets Manager, S3, SQS, and a real PostgreSQL.
func TestOpenOnAWSServices(t *testing.T) {
	dsn := storetest.NewPostgresDatabase(t) // skips without PostgreSQL
	u, _ := url.Parse(dsn)
	password, _ := u.User.Password()
	fields := map[string]any{"engine": "postgres", "host": u.Hostname(),
		"username": u.User.Username(), "password": password, "dbname": strings.TrimPrefix(u.Path, "/")}
	if u.Port() != "" { // else the secret, like the URL, leaves PostgreSQL's default
		port, err := strconv.Atoi(u.Port())
		if err != nil {
			t.Fatal(err)
		}
		fields["port"] = port
	}
	dbSecret, _ := json.Marshal(fields)
	jwtKey := strings.Repeat("j", 64)
	secretstest.New(t, map[string]string{secretstest.ARN("db"): string(dbSecret), secretstest.ARN("jwt"): jwtKey})

	sqsClient := sqstest.New(t)
	queueURL, _, err := sqstest.CreateQueues(context.Background(), sqsClient, "tasks", time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	backend := s3mem.New()
	backend.CreateBucket("media")
	s3srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(s3srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_S3", s3srv.URL)

	env := map[string]string{
		"ANB_DATA_DIR":       t.TempDir(),
		"ANB_DB_SECRET_ARN":  secretstest.ARN("db"),
		"ANB_JWT_SECRET_ARN": secretstest.ARN("jwt"),
		"ANB_STORAGE":        "s3",
		"ANB_S3_BUCKET":      "media",
		"ANB_QUEUE":          "sqs",
		"ANB_SQS_QUEUE_URL":  queueURL,
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := platform.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	if p.Store.Dialect() != "postgres" {
		t.Errorf("database = %s, want the PostgreSQL of the secret", p.Store.Dialect())
	}
	if err := p.Store.Ping(ctx); err != nil {
		t.Errorf("database: %v", err)
	}
	token, _ := auth.NewTokens([]byte(jwtKey), time.Hour).Issue(7)
	if id, err := p.Tokens.Verify(token); err != nil || id != 7 {
		t.Errorf("a token signed with the secret's key: %d, %v", id, err)
	}

	file := filepath.Join(t.TempDir(), "v.mp4")
	os.WriteFile(file, []byte("video bytes"), 0o644)
	if err := p.Blobs.PutFile(ctx, blob.OriginalKey("v"), file); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.HeadObject("media", blob.OriginalKey("v")); err != nil {
		t.Errorf("object not in the configured bucket: %v", err)
	}
	r, err := p.Blobs.Get(ctx, blob.OriginalKey("v"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "video bytes" {
		t.Errorf("read back %q", b)
	}

	task := queue.Task{TaskID: "t", VideoID: "v"}
	if err := p.Queue.Publish(ctx, task); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := p.Queue.Receive(rctx)
	if err != nil || d.Task() != task {
		t.Fatalf("receive = %v, %v; want %+v", d, err, task)
	}
	d.Ack(ctx)
}

func TestOpenNamesTheVariableOfAnUnreadableSecret(t *testing.T) {
	secretstest.New(t, nil)
	env := map[string]string{"ANB_DATA_DIR": t.TempDir(), "ANB_DB_SECRET_ARN": secretstest.ARN("gone")}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	_, err = platform.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "ANB_DB_SECRET_ARN") || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("Open = %v, want an error naming ANB_DB_SECRET_ARN and the service's answer", err)
	}
}

// A video whose task never reached the queue (the API died between the
// commit and the send, or the queue was down) is sent by RequeueLost once
// it is older than the grace, exactly once; a video whose task was sent,
// or one younger than the grace (its upload may still be sending), is left
// alone.
func TestRequeueLostSendsEachLostTaskOnceAfterTheGrace(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{"ANB_DATA_DIR": t.TempDir()}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	p, err := platform.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	q := p.Queue.(*queue.Local)
	owner := store.User{FirstName: "Ana", LastName: "Pérez", Email: "ana@example.com", PasswordHash: "x", City: "Cali", Country: "CO"}
	if err := p.Store.CreateUser(ctx, &owner); err != nil {
		t.Fatal(err)
	}
	video := func(title string) store.Video {
		v := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: owner.ID, Title: title, IsPublic: true}
		if err := p.Store.CreateVideo(ctx, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	lost := video("lost")
	sent := video("sent")
	if err := p.Store.MarkEnqueued(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}

	const every, grace = 20 * time.Millisecond, 500 * time.Millisecond
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.RequeueLost(run, slog.New(slog.DiscardHandler), every, grace); close(done) }()
	defer func() { stop(); <-done }()

	time.Sleep(grace / 2)
	if n := q.Len(); n != 0 {
		t.Fatalf("%d tasks sent within the grace, want none (the upload may still be sending)", n)
	}
	for deadline := time.Now().Add(10 * time.Second); q.Len() == 0; time.Sleep(every) {
		if time.Now().After(deadline) {
			t.Fatal("the lost task was not sent within 10 s")
		}
	}
	time.Sleep(10 * every) // ten more rounds: nothing else may be sent
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	d, err := q.Receive(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Task() != (queue.Task{TaskID: lost.TaskID, VideoID: lost.ID}) || q.Len() != 0 {
		t.Fatalf("sent %+v and %d more, want the lost video's task once", d.Task(), q.Len())
	}
	if v, _ := p.Store.Video(ctx, lost.ID); v.EnqueuedAt == nil {
		t.Error("the lost video is not marked enqueued after its task was sent")
	}
}
