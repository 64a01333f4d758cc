// Command worker is the batch tier of ANB Rising Stars: it takes processing
// tasks from the queue and runs the media pipeline on them.
//
//	worker                          consume the queue (SQS on AWS)
//	worker transcode IN OUT [POSTER] run the pipeline on local files
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/anb/risingstars/app/config"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/platform"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/sdnotify"
	"github.com/anb/risingstars/worker/lifecycle"
	"github.com/anb/risingstars/worker/media"
	"github.com/anb/risingstars/worker/processor"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("role", "worker")
	var err error
	if len(os.Args) > 1 && os.Args[1] == "transcode" {
		err = transcode(os.Args[2:])
	} else if len(os.Args) > 1 {
		err = fmt.Errorf("unknown command %q; usage: worker [transcode IN.mp4 OUT.mp4 [POSTER.jpg]]", os.Args[1])
	} else {
		err = consume(log)
	}
	if err != nil {
		log.Error("worker stopped", "error", err)
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func transcode(args []string) error {
	if len(args) < 2 || len(args) > 3 {
		return errors.New("usage: worker transcode IN.mp4 OUT.mp4 [POSTER.jpg]")
	}
	poster := strings.TrimSuffix(args[1], ".mp4") + ".jpg"
	if len(args) == 3 {
		poster = args[2]
	}
	ffmpeg := os.Getenv(nodespec.EnvFFmpeg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := (&media.Pipeline{FFmpeg: ffmpeg}).Transcode(ctx, args[0], args[1], poster); err != nil {
		return err
	}
	fmt.Printf("%s -> %s + %s in %.2f s\n", args[0], args[1], poster, time.Since(start).Seconds())
	return nil
}

func consume(log *slog.Logger) error {
	cfg, err := config.FromEnviron(os.Environ())
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.LocalQueue() {
		return errors.New("the in-process queue can only be consumed inside the API process: set ANB_QUEUE=sqs and ANB_SQS_QUEUE_URL, or run `go run ./app` with ANB_WORKERS>0")
	}
	if cfg.Workers < 1 {
		return errors.New("ANB_WORKERS must be at least 1 for the worker")
	}
	// SIGTERM stops receiving at once; jobs in hand finish or are released.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := platform.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer p.Close()
	proc := processor.New(cfg, p.Store, p.Blobs, p.WorkDir, log)

	// work ends on SIGTERM or when the instance leaves its Auto Scaling group.
	work, drain := context.WithCancel(ctx)
	defer drain()
	if dead, ok := p.Queue.(queue.DeadLetters); ok && cfg.SQSDeadLetterURL != "" {
		go proc.SweepDeadLetters(work, dead)
	}
	done := make(chan struct{})
	var hook chan error
	if cfg.LifecycleHook != "" {
		hook = make(chan error, 1)
		w := &lifecycle.Watcher{Metadata: imds.NewFromConfig(p.AWS), Hooks: autoscaling.NewFromConfig(p.AWS), Hook: cfg.LifecycleHook, Log: log}
		go func() { hook <- w.Run(work, func() { drain(); <-done }) }()
	}
	log.Info("worker started", "queue", cfg.Queue, "storage", cfg.Storage, "concurrency", cfg.Workers, "lifecycle_hook", cfg.LifecycleHook)
	// systemd (Type=notify): started only now, with the database reached
	// and migrated; the watchdog pings while every receiving loop comes
	// round, so a wedged worker is restarted.
	notify(log, sdnotify.Ready)
	watchdog, stopWatchdog := context.WithCancel(context.Background())
	defer stopWatchdog()
	go sdnotify.RunWatchdog(watchdog, proc.Alive)
	go func() {
		<-ctx.Done()
		notify(log, sdnotify.Stopping)
	}()
	proc.Run(work, p.Queue, cfg.Workers)
	close(done)
	if hook != nil && ctx.Err() == nil {
		// Drained for a scale-in: the hook is completed and the instance is
		// going away. Exiting would make systemd start a fresh worker that
		// takes tasks again, so stay idle until the system stops the service.
		if err := <-hook; err != nil {
			log.Error("lifecycle hook not completed; the instance terminates when it times out", "error", err)
		}
		log.Info("worker drained; idle until the instance stops")
		<-ctx.Done()
	}
	log.Info("worker stopped")
	return nil
}

// notify tells systemd the service's state; outside systemd it does nothing.
func notify(log *slog.Logger, state string) {
	if err := sdnotify.Notify(state); err != nil {
		log.Warn("systemd notification failed", "state", state, "error", err)
	}
}
