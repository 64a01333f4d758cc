package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/mp4/mediatest"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/queue/sqstest"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/store/storetest"
	"github.com/anb/risingstars/worker/lifecycle/lifecycletest"
	"github.com/google/uuid"
)

// The worker binary on an instance that the Auto Scaling group scales in
// while a job runs: it must finish the job, then complete the lifecycle
// hook, and then stay idle (not exit: systemd would start a fresh worker
// that takes tasks again) until the instance stops it.
func TestScaleInLetsTheJobInHandFinishThenCompletesTheHook(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.NewPostgresDatabase(t)
	st, err := store.Open(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sqsClient := sqstest.New(t)
	queueURL, dlqURL, err := sqstest.CreateQueues(ctx, sqsClient, "scale-in", nodespec.Visibility)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	disk, err := blob.NewDisk(filepath.Join(dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	owner := store.User{FirstName: "Ana", LastName: "Pérez", Email: "ana@example.com", PasswordHash: "x", City: "Cali", Country: "CO"}
	if err := st.CreateUser(ctx, &owner); err != nil {
		t.Fatal(err)
	}
	v := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: owner.ID, Title: "Triple", IsPublic: true}
	clip := mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 21})
	if err := disk.PutFile(ctx, blob.OriginalKey(v.ID), clip); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateVideo(ctx, &v); err != nil {
		t.Fatal(err)
	}

	inst, group := lifecycletest.NewInstance(t), lifecycletest.NewGroup(t)
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), nodespec.Environ([]nodespec.Var{
		{Name: nodespec.EnvDataDir, Value: dataDir},
		{Name: nodespec.EnvDatabaseURL, Value: dsn},
		{Name: nodespec.EnvQueue, Value: "sqs"},
		{Name: nodespec.EnvSQSQueueURL, Value: queueURL},
		{Name: nodespec.EnvSQSDLQURL, Value: dlqURL},
		{Name: nodespec.EnvLifecycleHook, Value: nodespec.LifecycleHookName},
		{Name: "AWS_EC2_METADATA_DISABLED", Value: "false"},
		{Name: "AWS_EC2_METADATA_SERVICE_ENDPOINT", Value: inst.URL},
		{Name: "AWS_ENDPOINT_URL_AUTO_SCALING", Value: group.URL},
	})...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("worker log:\n%s", log.String())
		}
	}()

	q := queue.NewSQS(sqsClient, queueURL, dlqURL, nodespec.Visibility)
	if err := q.Publish(ctx, queue.Task{TaskID: v.TaskID, VideoID: v.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job to start", func() bool { got, _ := st.Video(ctx, v.ID); return got.Status == store.StatusProcessing })
	inst.SetState("Terminated") // scale-in while ffmpeg runs

	select {
	case <-group.Completed():
	case err := <-exited:
		t.Fatalf("worker exited (%v) instead of draining", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("lifecycle hook not completed within 3 minutes")
	}
	got, err := st.Video(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusProcessed || got.Failures != 0 {
		t.Fatalf("when the hook was completed the video was %s (%d failures), want processed", got.Status, got.Failures)
	}
	if c := group.Calls()[0]; c.Get("LifecycleHookName") != nodespec.LifecycleHookName || c.Get("InstanceId") != lifecycletest.InstanceID {
		t.Fatalf("CompleteLifecycleAction %v", c)
	}
	select {
	case err := <-exited:
		t.Fatalf("worker exited after draining (%v); systemd would restart it on a leaving instance", err)
	case <-time.After(time.Second):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("worker stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop on SIGTERM")
	}
	if !strings.Contains(log.String(), nodespec.ProcessedLogMessage) {
		t.Error("no processed-video log line")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
