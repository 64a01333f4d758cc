package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/anb/risingstars/scripts/loadtest/clip"
	"github.com/anb/risingstars/scripts/loadtest/results"
	"github.com/anb/risingstars/scripts/loadtest/stats"
	"gonum.org/v1/plot/plotter"
)

type batchVideo struct {
	id, token  string
	uploadedAt time.Time // upload answered 201
	doneAt     time.Time // first seen processed or failed
	status     string
}

// BatchSample is one point of the drain timeline.
type BatchSample struct {
	Seconds   float64 `json:"s"`
	Uploaded  int     `json:"uploaded"`
	Processed int     `json:"processed"`
	Failed    int     `json:"failed"`
	Waiting   int     `json:"waiting"` // uploaded, not yet settled: queued or processing
}

// runBatch is scenario 2: a burst of uploads, then status polling until
// every video is processed or failed; it reports videos/minute.
func runBatch(ctx context.Context, o *options) error {
	r := results.New("batch", o.label)
	c := newClient(o.base, o.uploadConcurrency+4, 15*time.Minute)
	if err := c.waitHealthy(ctx, 30*time.Second); err != nil {
		return err
	}
	src, err := clip.Generate(ctx, o.ffmpeg, o.clipSeconds)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	r.Base = o.base
	r.Params["uploads"] = o.uploads
	r.Params["upload_concurrency"] = o.uploadConcurrency
	r.Params["clip"] = fmt.Sprintf("%s, %d s 1080p30 with audio, %.1f MiB", filepath.Base(src), o.clipSeconds, float64(fi.Size())/(1<<20))

	nUsers := max(1, min(o.uploadConcurrency, o.uploads))
	tokens := make([]string, nUsers)
	stamp := time.Now().UnixNano()
	for i := range tokens {
		if tokens[i], err = c.newUser(ctx, fmt.Sprintf("batch-%d-%d@loadtest.anb", stamp, i), "Cali"); err != nil {
			return err
		}
	}

	var mu sync.Mutex
	var videos []*batchVideo
	var uploadLat []time.Duration
	uploadErrors := 0
	t0 := time.Now()
	cpu0 := takeCPU(&watchedPIDs{api: o.apiPID})
	sem := make(chan struct{}, max(1, o.uploadConcurrency))
	var wg sync.WaitGroup
	for i := range o.uploads {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			tok := tokens[i%nUsers]
			start := time.Now()
			id, err := uploadOnce(ctx, c, src, fmt.Sprintf("Lote %d", i), tok)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				uploadErrors++
				fmt.Fprintln(os.Stderr, "  upload failed:", err)
				return
			}
			uploadLat = append(uploadLat, time.Since(start))
			videos = append(videos, &batchVideo{id: id, token: tok, uploadedAt: time.Now()})
		})
	}
	fmt.Fprintf(os.Stderr, "batch: %d uploads of %s (%d at a time)\n", o.uploads, filepath.Base(src), o.uploadConcurrency)
	uploadsDone := make(chan struct{})
	go func() { wg.Wait(); close(uploadsDone) }()

	var timeline []BatchSample
	deadline := t0.Add(o.drainTimeout)
	finishedUploading := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-uploadsDone:
			finishedUploading = true
			uploadsDone = nil // closed: stop selecting it
		case <-time.After(o.pollEvery):
		}
		mu.Lock()
		current := append([]*batchVideo(nil), videos...)
		mu.Unlock()
		byToken := map[string][]videoStatus{}
		for _, tok := range tokens {
			list, err := c.myVideos(ctx, tok)
			if err != nil {
				fmt.Fprintln(os.Stderr, "  poll failed:", err)
				continue
			}
			byToken[tok] = list
		}
		now := time.Now()
		s := BatchSample{Seconds: now.Sub(t0).Seconds(), Uploaded: len(current)}
		for _, v := range current {
			if v.doneAt.IsZero() {
				for _, st := range byToken[v.token] {
					if st.VideoID == v.id && (st.Status == "processed" || st.Status == "failed") {
						v.doneAt, v.status = now, st.Status
					}
				}
			}
			switch v.status {
			case "processed":
				s.Processed++
			case "failed":
				s.Failed++
			default:
				s.Waiting++
			}
		}
		timeline = append(timeline, s)
		fmt.Fprintf(os.Stderr, "  [batch] %5.0fs  uploaded %d/%d  processed %d  failed %d  waiting %d\n",
			s.Seconds, s.Uploaded, o.uploads, s.Processed, s.Failed, s.Waiting)
		if finishedUploading && s.Waiting == 0 {
			break
		}
		if now.After(deadline) {
			r.Notes = append(r.Notes, fmt.Sprintf("Gave up after %s with %d videos still waiting.", o.drainTimeout, s.Waiting))
			break
		}
	}
	cpu1 := takeCPU(&watchedPIDs{api: o.apiPID})

	var done []time.Time
	var latency []time.Duration
	for _, v := range videos {
		if !v.doneAt.IsZero() {
			done = append(done, v.doneAt)
			latency = append(latency, v.doneAt.Sub(v.uploadedAt))
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].Before(done[j]) })
	extra := map[string]any{"upload_errors": uploadErrors, "timeline": timeline,
		"upload_latency_ms": stats.Latencies(uploadLat), "upload_to_settled_ms": stats.Latencies(latency)}
	last := timeline[len(timeline)-1]
	extra["processed"], extra["failed"] = last.Processed, last.Failed
	rates := drainRates(t0, done)
	for k, v := range rates {
		extra[k] = v
	}
	if drain, ok := rates["drain_seconds"]; ok {
		r.Verdict("batch burst drained", fmt.Sprintf("%d processed, 0 failed", o.uploads),
			fmt.Sprintf("%d processed, %d failed in %.0f s", last.Processed, last.Failed, drain), last.Processed == o.uploads)
	}
	if steady, ok := rates["steady_videos_per_minute"]; ok {
		fmt.Fprintf(os.Stderr, "== batch: %.2f videos/min overall, %.2f videos/min steady (%.1f s per video)\n",
			rates["videos_per_minute"], steady, rates["seconds_per_video"])
	}
	if share := cpuShare(cpu0, cpu1, 0); share != nil {
		extra["cpu_during_drain"] = share
		r.Notes = append(r.Notes, fmt.Sprintf("CPU during the drain (cores): ffmpeg %.2f, API %.2f, PostgreSQL %.2f, load generator %.2f, other %.2f, idle %.2f.",
			share.FFmpeg, share.API, share.Postgres, share.Loadgen, share.Other, share.Idle))
	}
	r.Extra = extra
	r.AddPlot(func(dir string) (string, error) {
		var processed, waiting results.Series
		processed.Name, waiting.Name = "processed (cumulative)", "waiting (queued or processing)"
		for _, s := range timeline {
			processed.Pts = append(processed.Pts, plotter.XY{X: s.Seconds, Y: float64(s.Processed)})
			waiting.Pts = append(waiting.Pts, plotter.XY{X: s.Seconds, Y: float64(s.Waiting)})
		}
		name := r.Name + "-drain.png"
		return name, results.LinePlot(filepath.Join(dir, name), fmt.Sprintf("%s: %d uploads draining", r.Name, o.uploads),
			"seconds since the burst started", "videos", false, processed, waiting)
	})
	return r.Save(o.out)
}

// drainRates are the figures of a burst started at t0 whose videos settled
// (processed or failed) at the sorted times done, as the poll saw them:
// drain_seconds and videos_per_minute from t0 to the last one; and, between
// the first and the last (when the workers were never idle),
// steady_videos_per_minute and seconds_per_video. The steady figures are
// left out when fewer than two videos settled or all in the same poll: no
// time passed between them to measure a rate over.
func drainRates(t0 time.Time, done []time.Time) map[string]float64 {
	out := map[string]float64{}
	if len(done) == 0 {
		return out
	}
	drain := done[len(done)-1].Sub(t0).Seconds()
	out["drain_seconds"] = drain
	if drain > 0 {
		out["videos_per_minute"] = float64(len(done)) / drain * 60
	}
	if span := done[len(done)-1].Sub(done[0]).Seconds(); len(done) > 1 && span > 0 {
		steady := float64(len(done)-1) / span * 60
		out["steady_videos_per_minute"] = steady
		out["seconds_per_video"] = 60 / steady
	}
	return out
}

// uploadOnce uploads the clip and returns the new video's id.
func uploadOnce(ctx context.Context, c *client, path, title, token string) (string, error) {
	req, closeFile, err := uploadRequest(path, title, token)
	if err != nil {
		return "", err
	}
	defer closeFile()
	vu := &VU{c: c, lv: &levelState{}, ops: map[string]*opData{}}
	if _, err := vu.do(ctx, req); err != nil {
		return "", err
	}
	var out struct {
		VideoID string `json:"video_id"`
	}
	if err := json.NewDecoder(io.Reader(&vu.buf)).Decode(&out); err != nil {
		return "", err
	}
	return out.VideoID, nil
}
