package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/videos"
	"github.com/anb/risingstars/scripts/loadtest/clip"
	"github.com/anb/risingstars/scripts/loadtest/results"
	"github.com/anb/risingstars/scripts/loadtest/stats"
	"github.com/anb/risingstars/worker/media"
	"github.com/anb/risingstars/worker/processor"
	"github.com/google/uuid"
)

// variant is one way of producing the processed video from the clip.
type variant struct {
	key, name string
	// run produces dir/out.mp4 and dir/poster.jpg; it returns the output
	// path and, for multi-step variants, the time of each step.
	run func(ctx context.Context, dir string) (string, map[string]time.Duration, error)
}

// VariantResult is what the worker benchmark measured for one variant.
type VariantResult struct {
	Name      string             `json:"name"`
	Runs      []float64          `json:"runs_s"`
	MedianS   float64            `json:"median_s"`
	MinS      float64            `json:"min_s"`
	Steps     map[string]float64 `json:"steps_median_s,omitempty"`
	SSIM      float64            `json:"ssim_all,omitempty"`
	PSNR      float64            `json:"psnr_avg_db,omitempty"`
	Frames    int                `json:"frames,omitempty"`
	Bytes     int64              `json:"bytes,omitempty"`
	stepsRuns map[string][]float64
	output    string
}

// run compares, on one clip: the bare ffmpeg command of
// media.Pipeline.Args, `worker transcode`, the full processor path (local
// queue + disk blobs + PostgreSQL) and naive multi-pass pipelines; then the
// quality of each output against a lossless rendering of the same graph.
func run(ctx context.Context, o *options) error {
	r := results.New("worker", o.label)
	work, cleanup, err := clip.Scratch(o.work)
	if err != nil {
		return err
	}
	defer cleanup()
	src, err := clip.Generate(ctx, o.ffmpeg, o.clipSeconds)
	if err != nil {
		return err
	}
	logo := filepath.Join(work, "logo.png")
	if err := os.WriteFile(logo, media.Logo(), 0o644); err != nil {
		return err
	}
	p := &media.Pipeline{FFmpeg: o.ffmpeg}
	bin := o.workerBin
	if bin == "" {
		bin = filepath.Join(work, "worker")
		fmt.Fprintln(os.Stderr, "building ./worker ...")
		if err := clip.Run(ctx, "go", "build", "-o", bin, "./worker"); err != nil {
			return err
		}
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	r.Params["clip"] = fmt.Sprintf("%s (%.1f MiB)", filepath.Base(src), float64(fi.Size())/(1<<20))
	r.Params["reps"] = o.reps
	r.Params["ffmpeg"] = ffmpegVersion(ctx, o.ffmpeg)

	variants := []variant{
		{key: "bare", name: "bare ffmpeg (Pipeline.Args)", run: func(ctx context.Context, dir string) (string, map[string]time.Duration, error) {
			out := filepath.Join(dir, "out.mp4")
			return out, nil, clip.Run(ctx, o.ffmpeg, p.Args(src, out, filepath.Join(dir, "poster.jpg"), logo)...)
		}},
		{key: "cli", name: "worker transcode", run: func(ctx context.Context, dir string) (string, map[string]time.Duration, error) {
			out := filepath.Join(dir, "out.mp4")
			cmd := exec.CommandContext(ctx, bin, "transcode", src, out, filepath.Join(dir, "poster.jpg"))
			cmd.Env = append(os.Environ(), "ANB_FFMPEG="+o.ffmpeg)
			if b, err := cmd.CombinedOutput(); err != nil {
				return "", nil, fmt.Errorf("worker transcode: %w: %s", err, b)
			}
			return out, nil, nil
		}},
	}
	if o.db != "" {
		pv, closeDB, err := processorVariant(ctx, o, p, src, work)
		if err != nil {
			return err
		}
		defer closeDB()
		variants = append(variants, pv)
	} else {
		r.Notes = append(r.Notes, "processor.Handle not measured: pass -db postgres://... (a scratch database).")
	}
	for _, mode := range strings.Split(o.naive, ",") {
		switch mode = strings.TrimSpace(mode); mode {
		case "reencode", "copy":
			variants = append(variants, naiveVariant(o, p, src, logo, mode == "copy"))
		case "":
		default:
			return fmt.Errorf("-naive: unknown variant %q (reencode, copy)", mode)
		}
	}

	measured := make([]*VariantResult, len(variants))
	for i, v := range variants {
		measured[i] = &VariantResult{Name: v.name, stepsRuns: map[string][]float64{}}
	}
	for rep := range o.reps {
		for j := range variants {
			i := (j + rep) % len(variants) // rotate the order: drift on a shared machine hits every variant alike
			v := variants[i]
			dir := filepath.Join(work, v.key)
			os.RemoveAll(dir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			start := time.Now()
			out, steps, err := v.run(ctx, dir)
			if err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			d := time.Since(start).Seconds()
			res := measured[i]
			res.Runs = append(res.Runs, d)
			res.output = out
			for s, t := range steps {
				res.stepsRuns[s] = append(res.stepsRuns[s], t.Seconds())
			}
			fmt.Fprintf(os.Stderr, "  [worker] rep %d/%d %-45s %6.2f s   (load %.2f)\n", rep+1, o.reps, v.name, d, results.LoadAverage()[0])
		}
	}

	// Quality: against the same graph encoded losslessly, so only the
	// encodes a pipeline does (one, or one per pass) make a difference.
	fmt.Fprintln(os.Stderr, "quality: rendering the lossless reference and comparing ...")
	ref := filepath.Join(work, "reference.mp4")
	if err := clip.Run(ctx, o.ffmpeg, losslessArgs(p.Args(src, ref, filepath.Join(work, "reference.jpg"), logo))...); err != nil {
		return err
	}
	refFrames, err := countFrames(ctx, o.ffmpeg, ref)
	if err != nil {
		return err
	}
	for i, res := range measured {
		res.MedianS, res.MinS = stats.Median(res.Runs), slices.Min(res.Runs)
		if len(res.stepsRuns) > 0 {
			res.Steps = map[string]float64{}
			for s, runs := range res.stepsRuns {
				res.Steps[s] = stats.Median(runs)
			}
		}
		if fi, err := os.Stat(res.output); err == nil {
			res.Bytes = fi.Size()
		}
		if variants[i].key == "cli" || variants[i].key == "processor" {
			continue // the same command as "bare": the same bytes
		}
		if res.Frames, err = countFrames(ctx, o.ffmpeg, res.output); err != nil {
			return err
		}
		if res.SSIM, res.PSNR, err = compare(ctx, o.ffmpeg, res.output, ref); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "  %-45s SSIM %.5f  PSNR %.2f dB  frames %d (reference %d)\n", res.Name, res.SSIM, res.PSNR, res.Frames, refFrames)
	}

	byKey := map[string]*VariantResult{}
	for i, v := range variants {
		byKey[v.key] = measured[i]
	}
	r.Extra = judge(r, byKey)
	r.Extra["variants"] = measured
	r.Extra["reference_frames"] = refFrames
	r.AddPlot(func(dir string) (string, error) {
		name := r.Name + "-times.png"
		return name, timesPlot(filepath.Join(dir, name), measured, o.clipSeconds, o.reps)
	})
	return r.Save(o.out)
}

// overheadPct is how much longer x took than base, in percent (negative: faster).
func overheadPct(x, base float64) float64 { return (x/base - 1) * 100 }

// judge adds the verdicts of the variants measured, keyed by variant key
// (bare and cli always; processor, naive-reencode and naive-copy when run),
// and returns the derived figures for the JSON details.
func judge(r *results.Run, byKey map[string]*VariantResult) map[string]any {
	bare := byKey["bare"]
	extra := map[string]any{}
	cli := byKey["cli"]
	extra["worker_cli_overhead_pct"] = overheadPct(cli.MedianS, bare.MedianS)
	r.Verdict("`worker transcode` overhead over bare ffmpeg", "≤ 15 %", fmt.Sprintf("%+.1f %% (%.2f s vs %.2f s)", overheadPct(cli.MedianS, bare.MedianS), cli.MedianS, bare.MedianS),
		overheadPct(cli.MedianS, bare.MedianS) <= 15)
	if pr := byKey["processor"]; pr != nil {
		extra["processor_overhead_pct"] = overheadPct(pr.MedianS, bare.MedianS)
		r.Verdict("processor.Handle (queue + storage + database + ffmpeg) vs bare ffmpeg", "≤ +15 %",
			fmt.Sprintf("%+.1f %% (%.2f s vs %.2f s)", overheadPct(pr.MedianS, bare.MedianS), pr.MedianS, bare.MedianS), overheadPct(pr.MedianS, bare.MedianS) <= 15)
		own := pr.Steps["queue+storage+database"]
		extra["processor_own_seconds"] = own
		extra["processor_own_pct_of_bare"] = own / bare.MedianS * 100
		r.Verdict("time Handle spends outside ffmpeg, share of a bare ffmpeg run", "≤ 15 %",
			fmt.Sprintf("%.3f s = %.2f %%", own, own/bare.MedianS*100), own/bare.MedianS <= 0.15)
	}
	for _, key := range []string{"naive-reencode", "naive-copy"} {
		nv := byKey[key]
		if nv == nil {
			continue
		}
		speedup := nv.MedianS / bare.MedianS
		extra["speedup_vs_"+key] = speedup
		r.Verdict("single pass speed-up vs "+nv.Name, "≥ 1.8×", fmt.Sprintf("%.2f× (%.2f s vs %.2f s)", speedup, bare.MedianS, nv.MedianS), speedup >= 1.8)
		r.Verdict("single pass quality vs "+nv.Name+" (SSIM / PSNR vs lossless)", "equal or better",
			fmt.Sprintf("%.5f / %.2f dB vs %.5f / %.2f dB", bare.SSIM, bare.PSNR, nv.SSIM, nv.PSNR), bare.SSIM >= nv.SSIM && bare.PSNR >= nv.PSNR-0.01)
	}
	return extra
}

// timesPlot draws the median time of each variant as a bar.
func timesPlot(path string, measured []*VariantResult, clipSeconds, reps int) error {
	var labels []string
	var values []float64
	for _, res := range measured {
		labels = append(labels, shortName(res.Name))
		values = append(values, res.MedianS)
	}
	return results.BarPlot(path, fmt.Sprintf("Processing one %d s 1080p30 upload (median of %d)", clipSeconds, reps),
		"seconds", labels, values)
}

func shortName(s string) string {
	switch {
	case strings.HasPrefix(s, "bare"):
		return "bare ffmpeg"
	case strings.HasPrefix(s, "processor"):
		return "processor"
	case strings.Contains(s, "re-encode"):
		return "naive (re-encode)"
	case strings.Contains(s, "copy"):
		return "naive (copy)"
	}
	return s
}

// processorVariant runs processor.Handle as the worker does: a task through
// the local queue, the original fetched from disk blobs, the status moved in
// PostgreSQL, the results stored back.
func processorVariant(ctx context.Context, o *options, p *media.Pipeline, src, work string) (variant, func(), error) {
	st, err := store.Open(ctx, o.db, "")
	if err != nil {
		return variant{}, nil, err
	}
	blobs, err := blob.NewDisk(filepath.Join(work, "blobs"))
	if err != nil {
		st.Close()
		return variant{}, nil, err
	}
	jobs := filepath.Join(work, "jobs")
	if err := os.MkdirAll(jobs, 0o755); err != nil {
		st.Close()
		return variant{}, nil, err
	}
	logFile, err := os.Create(filepath.Join(work, "processor.log"))
	if err != nil {
		st.Close()
		return variant{}, nil, err
	}
	u := store.User{FirstName: "Banco", LastName: "Pruebas", Email: fmt.Sprintf("worker-bench-%d@loadtest.anb", time.Now().UnixNano()),
		PasswordHash: "x", City: "Cali", Country: "Colombia"}
	if err := st.CreateUser(ctx, &u); err != nil {
		st.Close()
		return variant{}, nil, err
	}
	q := queue.NewLocal()
	timed := &timedTranscoder{next: p}
	log := slog.New(slog.NewJSONHandler(logFile, nil))
	proc := &processor.Processor{Videos: &videos.Processing{Store: st, Files: blobs, Log: log}, Blobs: blobs, Media: timed, TempDir: jobs, Log: log}
	v := variant{key: "processor", name: "processor.Handle (local queue + disk + PostgreSQL)"}
	v.run = func(ctx context.Context, dir string) (string, map[string]time.Duration, error) {
		// The upload (done by the API) is outside the timing, as in production.
		video := store.Video{ID: uuid.NewString(), TaskID: uuid.NewString(), UserID: u.ID, Title: "Banco de pruebas", IsPublic: false}
		if err := blobs.PutFile(ctx, blob.OriginalKey(video.ID), src); err != nil {
			return "", nil, err
		}
		if err := st.CreateVideo(ctx, &video); err != nil {
			return "", nil, err
		}
		start := time.Now()
		if err := q.Publish(ctx, queue.Task{TaskID: video.TaskID, VideoID: video.ID}); err != nil {
			return "", nil, err
		}
		d, err := q.Receive(ctx)
		if err != nil {
			return "", nil, err
		}
		proc.Handle(ctx, d)
		elapsed := time.Since(start)
		got, err := st.Video(ctx, video.ID)
		if err != nil {
			return "", nil, err
		}
		if got.Status != store.StatusProcessed {
			return "", nil, fmt.Errorf("video ended %s: %s", got.Status, got.Error)
		}
		// Everything Handle did besides ffmpeg: queue, status updates,
		// fetching the original, storing the results. Measured directly, it
		// does not drown in the run-to-run noise of ffmpeg itself.
		return filepath.Join(work, "blobs", blob.ProcessedKey(video.ID)),
			map[string]time.Duration{"ffmpeg": timed.last, "queue+storage+database": elapsed - timed.last}, nil
	}
	return v, func() { st.Close(); logFile.Close() }, nil
}

// timedTranscoder records how long the media pipeline took inside Handle.
type timedTranscoder struct {
	next processor.Transcoder
	last time.Duration
}

func (t *timedTranscoder) Transcode(ctx context.Context, in, out, poster string) error {
	start := time.Now()
	err := t.next.Transcode(ctx, in, out, poster)
	t.last = time.Since(start)
	return err
}

// graphSegments splits the single-pass filter graph of Pipeline.Args into
// its chains, keyed by their output label, so the naive pipeline applies
// exactly the same filters, one pass at a time.
func graphSegments(args []string) (map[string]string, error) {
	i := slices.Index(args, "-filter_complex")
	if i < 0 || i+1 >= len(args) {
		return nil, errors.New("no -filter_complex in Pipeline.Args")
	}
	out := map[string]string{}
	label := regexp.MustCompile(`\[([a-z_]+)\]$`)
	for _, seg := range strings.Split(args[i+1], ";") {
		if m := label.FindStringSubmatch(seg); m != nil {
			out[m[1]] = seg
		}
	}
	for _, want := range []string{"mark", "open_logo", "close_logo", "fitted", "marked", "poster", "open_bg", "open", "close_bg", "close", "video"} {
		if out[want] == "" {
			return nil, fmt.Errorf("the filter graph has no chain ending in [%s]; update the naive pipeline", want)
		}
	}
	return out, nil
}

// naiveVariant is the pipeline a first attempt would write: separate ffmpeg
// runs to trim, mute, scale, watermark, make the cards, take the poster and
// concatenate. With copy, the steps that can avoid an encode (trim, concat)
// copy streams; otherwise every picture-changing step re-encodes.
func naiveVariant(o *options, p *media.Pipeline, src, logo string, copyWhereFree bool) variant {
	key, name := "naive-reencode", "naive multi-pass (re-encode each step)"
	if copyWhereFree {
		key, name = "naive-copy", "naive multi-pass (stream copy where possible)"
	}
	enc := []string{"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"}
	v := variant{key: key, name: name}
	v.run = func(ctx context.Context, dir string) (string, map[string]time.Duration, error) {
		seg, err := graphSegments(p.Args("in", "out", "poster", "logo"))
		if err != nil {
			return "", nil, err
		}
		f := func(n string) string { return filepath.Join(dir, n) }
		base := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"}
		steps := map[string]time.Duration{}
		step := func(name string, args ...string) error {
			start := time.Now()
			err := clip.Run(ctx, o.ffmpeg, append(slices.Clone(base), args...)...)
			steps[name] = time.Since(start)
			return err
		}
		content := seconds(media.MaxContent)
		trim := append([]string{"-t", content, "-i", src}, enc...)
		trim = append(trim, "-c:a", "copy", f("1-trim.mp4"))
		if copyWhereFree {
			trim = []string{"-t", content, "-i", src, "-c", "copy", f("1-trim.mp4")}
		}
		mark := "[1:v]format=rgba[logo_mark];" + seg["mark"] + ";" + strings.Replace(seg["marked"], "[fitted]", "[0:v]", 1)
		card := func(which string) string {
			return "[0:v]format=rgba[logo_" + which + "];" + seg[which+"_logo"] + ";" + seg[which+"_bg"] + ";" + seg[which]
		}
		run := []struct {
			name string
			args []string
		}{
			{"trim", trim},
			{"mute", []string{"-i", f("1-trim.mp4"), "-an", "-c:v", "copy", f("2-mute.mp4")}},
			{"scale", append(append([]string{"-i", f("2-mute.mp4"), "-filter_complex", seg["fitted"], "-map", "[fitted]"}, enc...), f("3-scaled.mp4"))},
			{"watermark", append(append([]string{"-i", f("3-scaled.mp4"), "-f", "png_pipe", "-i", logo, "-filter_complex", mark, "-map", "[marked]"}, enc...), f("4-marked.mp4"))},
			{"intro", append(append([]string{"-f", "png_pipe", "-i", logo, "-filter_complex", card("open"), "-map", "[open]"}, enc...), f("5-intro.mp4"))},
			{"outro", append(append([]string{"-f", "png_pipe", "-i", logo, "-filter_complex", card("close"), "-map", "[close]"}, enc...), f("6-outro.mp4"))},
			{"poster", []string{"-i", f("4-marked.mp4"), "-filter_complex", strings.Replace(seg["poster"], "[poster_src]", "[0:v]", 1), "-map", "[poster]",
				"-c:v", "mjpeg", "-q:v", "3", "-update", "1", "-f", "image2", f("poster.jpg")}},
		}
		for _, s := range run {
			if err := step(s.name, s.args...); err != nil {
				return "", nil, err
			}
		}
		out := f("out.mp4")
		if copyWhereFree {
			list := fmt.Sprintf("file '%s'\nfile '%s'\nfile '%s'\n", f("5-intro.mp4"), f("4-marked.mp4"), f("6-outro.mp4"))
			if err := os.WriteFile(f("list.txt"), []byte(list), 0o644); err != nil {
				return "", nil, err
			}
			err = step("concat", "-f", "concat", "-safe", "0", "-i", f("list.txt"), "-c", "copy", "-movflags", "+faststart", out)
		} else {
			concat := strings.NewReplacer("[open]", "[0:v]", "[body]", "[1:v]", "[close]", "[2:v]").Replace(seg["video"])
			args := append([]string{"-i", f("5-intro.mp4"), "-i", f("4-marked.mp4"), "-i", f("6-outro.mp4"), "-filter_complex", concat, "-map", "[video]"}, enc...)
			err = step("concat", append(args, "-movflags", "+faststart", out)...)
		}
		return out, steps, err
	}
	return v
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// losslessArgs turns Pipeline.Args into the same run with a lossless video
// encode: the ideal output every pipeline is compared with.
func losslessArgs(args []string) []string {
	out := slices.Clone(args)
	for i := 0; i+3 < len(out); i++ {
		if out[i] == "-preset" && out[i+2] == "-crf" {
			out[i+1], out[i+2], out[i+3] = "ultrafast", "-qp", "0"
			break
		}
	}
	return out
}

var (
	ssimAll = regexp.MustCompile(`SSIM .*All:([0-9.]+)`)
	psnrAvg = regexp.MustCompile(`PSNR .*average:([0-9.]+|inf)`)
)

// compare returns the SSIM (All) and the average PSNR of a against ref,
// frame by frame from the start.
func compare(ctx context.Context, ffmpeg, a, ref string) (float64, float64, error) {
	measure := func(filter string, re *regexp.Regexp) (float64, error) {
		log, err := clip.Output(ctx, ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-i", a, "-i", ref,
			"-lavfi", "[0:v]setpts=PTS-STARTPTS[a];[1:v]setpts=PTS-STARTPTS[b];[a][b]"+filter, "-f", "null", "-")
		if err != nil {
			return 0, err
		}
		m := re.FindStringSubmatch(log)
		if m == nil {
			return 0, fmt.Errorf("no %s figure in ffmpeg's output", filter)
		}
		if m[1] == "inf" {
			return 99, nil
		}
		return strconv.ParseFloat(m[1], 64)
	}
	ssim, err := measure("ssim", ssimAll)
	if err != nil {
		return 0, 0, err
	}
	psnr, err := measure("psnr", psnrAvg)
	return ssim, psnr, err
}

// countFrames decodes the video stream and counts its frames.
func countFrames(ctx context.Context, ffmpeg, path string) (int, error) {
	ffprobe := filepath.Join(filepath.Dir(ffmpeg), "ffprobe")
	if _, err := os.Stat(ffprobe); err != nil {
		ffprobe = "ffprobe"
	}
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

func ffmpegVersion(ctx context.Context, ffmpeg string) string {
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-version").Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}
