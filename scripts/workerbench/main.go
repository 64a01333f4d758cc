// Command workerbench measures the worker's media pipeline on one generated
// 1080p30 clip: the bare ffmpeg command of media.Pipeline.Args, `worker
// transcode`, the full processor path (local queue + disk blobs + PostgreSQL,
// with -db) and naive multi-pass pipelines, each -reps times interleaved,
// then SSIM/PSNR of every output against a lossless reference. It writes
// worker.json, worker.md and worker-times.png into -out, beside the results
// of scripts/loadtest (whose -mode summary lists its verdicts too).
//
// Run it from the repository root (it builds ./worker unless -worker-bin):
//
//	go run ./scripts/workerbench -clip-seconds 60 -reps 3 -db postgres://...
//
// Measured figures: scripts/loadtest/REPORT.md; full local measurement:
// scripts/loadtest/run-local.sh (step worker).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

type options struct {
	out, label, db string
	clipSeconds    int
	reps           int
	workerBin      string
	ffmpeg         string
	naive          string
	work           string
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "scripts/loadtest/out", "directory for JSON, Markdown and PNG results")
	flag.StringVar(&o.label, "label", "", "suffix of the result file names (worker-LABEL.json)")
	flag.StringVar(&o.db, "db", "", "PostgreSQL URL of a scratch database: also measure the processor path (processor.Handle)")
	flag.IntVar(&o.clipSeconds, "clip-seconds", 30, "length of the generated 1080p30 clip")
	flag.IntVar(&o.reps, "reps", 3, "repetitions of each variant (interleaved; medians reported)")
	flag.StringVar(&o.workerBin, "worker-bin", "", "the worker binary (default: go build ./worker)")
	flag.StringVar(&o.ffmpeg, "ffmpeg", "ffmpeg", "ffmpeg executable")
	flag.StringVar(&o.naive, "naive", "reencode,copy", "naive pipeline variants to run (reencode, copy)")
	flag.StringVar(&o.work, "work", "", "scratch directory (default: a temporary one)")
	flag.Parse()
	if o.reps < 1 || o.clipSeconds < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "workerbench: -reps and -clip-seconds must be positive; no arguments")
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		fmt.Fprintln(os.Stderr, "workerbench:", err)
		os.Exit(1)
	}
}
