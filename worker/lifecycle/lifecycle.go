// Package lifecycle lets a worker on an EC2 Auto Scaling group finish its job
// before its instance goes away. The worker group has a termination
// lifecycle hook: on scale-in (or a rolling deploy) the instance waits in
// Terminating:Wait, the worker sees that through the instance metadata
// service, stops taking tasks, lets the job in hand finish, and then
// completes the hook so the instance terminates.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// Metadata is the part of the instance metadata service the watcher reads.
type Metadata interface {
	GetMetadata(ctx context.Context, in *imds.GetMetadataInput, optFns ...func(*imds.Options)) (*imds.GetMetadataOutput, error)
}

// Hooks is the part of the Auto Scaling API the watcher calls.
type Hooks interface {
	CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error)
}

// Watcher follows this instance's lifecycle state.
type Watcher struct {
	Metadata Metadata
	Hooks    Hooks
	Hook     string        // the termination lifecycle hook's name
	Every    time.Duration // how often the state is read; default 5 s
	Log      *slog.Logger
}

// terminated is the target lifecycle state of an instance that is leaving.
const terminated = "Terminated"

// Run blocks until the instance is told to terminate or ctx ends. Then it
// calls drain, which returns once the worker holds no job, and completes the
// lifecycle hook so the termination goes on at once instead of when the
// hook times out.
func (w *Watcher) Run(ctx context.Context, drain func()) error {
	every := w.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		state, err := w.read(ctx, "autoscaling/target-lifecycle-state")
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			w.Log.Warn("read lifecycle state failed", "error", err)
		case state == terminated:
			w.Log.Info("instance is terminating: draining before completing the lifecycle hook", "hook", w.Hook)
			drain()
			return w.complete(context.WithoutCancel(ctx))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (w *Watcher) complete(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	instance, err := w.read(ctx, "instance-id")
	if err != nil {
		return err
	}
	// Readable because the launch template enables instance metadata tags.
	group, err := w.read(ctx, "tags/instance/aws:autoscaling:groupName")
	if err != nil {
		return err
	}
	_, err = w.Hooks.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName:  aws.String(group),
		LifecycleHookName:     aws.String(w.Hook),
		InstanceId:            aws.String(instance),
		LifecycleActionResult: aws.String("CONTINUE"),
	})
	if err != nil {
		return fmt.Errorf("complete lifecycle hook %s: %w", w.Hook, err)
	}
	w.Log.Info("lifecycle hook completed: the instance may terminate", "instance_id", instance, "group", group)
	return nil
}

func (w *Watcher) read(ctx context.Context, path string) (string, error) {
	out, err := w.Metadata.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", fmt.Errorf("instance metadata %s: %w", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	if err != nil {
		return "", fmt.Errorf("instance metadata %s: %w", path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", errors.New("instance metadata " + path + " is empty")
	}
	return v, nil
}
