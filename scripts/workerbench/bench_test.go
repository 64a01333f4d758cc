package main

import (
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anb/risingstars/scripts/loadtest/results"
	"github.com/anb/risingstars/worker/media"
)

// The verdicts of REPORT.md's worker rows, from the medians measured.
func TestJudge(t *testing.T) {
	byKey := map[string]*VariantResult{
		"bare":           {Name: "bare ffmpeg (Pipeline.Args)", MedianS: 9.05, SSIM: 0.9929, PSNR: 43.2},
		"cli":            {Name: "worker transcode", MedianS: 9.26},
		"processor":      {Name: "processor.Handle (local queue + disk + PostgreSQL)", MedianS: 10.5, Steps: map[string]float64{"queue+storage+database": 0.181}},
		"naive-reencode": {Name: "naive multi-pass (re-encode each step)", MedianS: 35.114, SSIM: 0.9888, PSNR: 40.4},
		"naive-copy":     {Name: "naive multi-pass (stream copy where possible)", MedianS: 15.47, SSIM: 0.9911, PSNR: 43.5},
	}
	r := &results.Run{}
	extra := judge(r, byKey)
	want := []results.Verdict{
		{What: "`worker transcode` overhead over bare ffmpeg", Target: "≤ 15 %", Reached: "+2.3 % (9.26 s vs 9.05 s)", Met: true},
		{What: "processor.Handle (queue + storage + database + ffmpeg) vs bare ffmpeg", Target: "≤ +15 %", Reached: "+16.0 % (10.50 s vs 9.05 s)", Met: false},
		{What: "time Handle spends outside ffmpeg, share of a bare ffmpeg run", Target: "≤ 15 %", Reached: "0.181 s = 2.00 %", Met: true},
		{What: "single pass speed-up vs naive multi-pass (re-encode each step)", Target: "≥ 1.8×", Reached: "3.88× (9.05 s vs 35.11 s)", Met: true},
		{What: "single pass quality vs naive multi-pass (re-encode each step) (SSIM / PSNR vs lossless)", Target: "equal or better",
			Reached: "0.99290 / 43.20 dB vs 0.98880 / 40.40 dB", Met: true},
		{What: "single pass speed-up vs naive multi-pass (stream copy where possible)", Target: "≥ 1.8×", Reached: "1.71× (9.05 s vs 15.47 s)", Met: false},
		// PSNR 0.3 dB lower: not equal or better, though SSIM is.
		{What: "single pass quality vs naive multi-pass (stream copy where possible) (SSIM / PSNR vs lossless)", Target: "equal or better",
			Reached: "0.99290 / 43.20 dB vs 0.99110 / 43.50 dB", Met: false},
	}
	if !slices.Equal(r.Verdicts, want) {
		for i := range max(len(r.Verdicts), len(want)) {
			var got, w results.Verdict
			if i < len(r.Verdicts) {
				got = r.Verdicts[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if got != w {
				t.Errorf("verdict %d:\n got %+v\nwant %+v", i, got, w)
			}
		}
	}
	near := func(k string, w float64) {
		if g, _ := extra[k].(float64); g < w-1e-3 || g > w+1e-3 {
			t.Errorf("%s = %v, want %v", k, extra[k], w)
		}
	}
	near("worker_cli_overhead_pct", 2.3204)
	near("processor_overhead_pct", 16.0221)
	near("processor_own_pct_of_bare", 2.0)
	near("speedup_vs_naive-copy", 1.7094)

	// Without -db and with -naive "": only the CLI verdict.
	r = &results.Run{}
	extra = judge(r, map[string]*VariantResult{"bare": byKey["bare"], "cli": {MedianS: 10.5}})
	if len(r.Verdicts) != 1 || r.Verdicts[0].Met || len(extra) != 1 {
		t.Errorf("bare + cli only: %+v, %v", r.Verdicts, extra)
	}
}

func TestOverheadPct(t *testing.T) {
	for _, tc := range []struct{ x, base, want float64 }{{10, 10, 0}, {11.5, 10, 15}, {8.86, 9.05, -2.0994}, {20, 10, 100}} {
		if got := overheadPct(tc.x, tc.base); got < tc.want-1e-3 || got > tc.want+1e-3 {
			t.Errorf("overheadPct(%v, %v) = %v, want %v", tc.x, tc.base, got, tc.want)
		}
	}
}

// The naive pipeline replays the chains of the real single-pass graph: it
// must find every one of them in media.Pipeline.Args.
func TestGraphSegmentsOfThePipeline(t *testing.T) {
	seg, err := graphSegments((&media.Pipeline{FFmpeg: "ffmpeg"}).Args("in.mp4", "out.mp4", "poster.jpg", "logo.png"))
	if err != nil {
		t.Fatal(err)
	}
	for label, chain := range seg {
		if !strings.HasSuffix(chain, "["+label+"]") {
			t.Errorf("chain %q does not end in [%s]", chain, label)
		}
	}
	if _, err := graphSegments([]string{"-i", "in.mp4", "out.mp4"}); err == nil {
		t.Error("no -filter_complex: want an error")
	}
	if _, err := graphSegments([]string{"-filter_complex", "[0:v]scale=2:2[fitted]"}); err == nil {
		t.Error("a graph without the watermark and cards: want an error naming the missing chain")
	}
}

// The lossless reference is the same command with only the encoder settings changed.
func TestLosslessArgs(t *testing.T) {
	args := (&media.Pipeline{FFmpeg: "ffmpeg"}).Args("in.mp4", "out.mp4", "poster.jpg", "logo.png")
	ll := losslessArgs(args)
	if len(ll) != len(args) {
		t.Fatalf("lossless args differ in length: %d vs %d", len(ll), len(args))
	}
	var changed []string
	for i := range args {
		if args[i] != ll[i] {
			changed = append(changed, args[i]+"→"+ll[i])
		}
	}
	if want := []string{"veryfast→ultrafast", "-crf→-qp", "23→0"}; !slices.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	if args[slices.Index(args, "-preset")+1] != "veryfast" {
		t.Error("losslessArgs modified its input")
	}
}

func TestTimesPlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker-times.png")
	measured := []*VariantResult{{Name: "bare ffmpeg (Pipeline.Args)", MedianS: 9.05}, {Name: "worker transcode", MedianS: 9.26},
		{Name: "naive multi-pass (re-encode each step)", MedianS: 35.1}, {Name: "naive multi-pass (stream copy where possible)", MedianS: 15.5}}
	if err := timesPlot(path, measured, 60, 3); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cfg, err := png.DecodeConfig(f); err != nil || cfg.Width < 400 {
		t.Errorf("worker-times.png: %+v, %v", cfg, err)
	}
	for in, want := range map[string]string{
		"bare ffmpeg (Pipeline.Args)": "bare ffmpeg", "naive multi-pass (re-encode each step)": "naive (re-encode)",
		"naive multi-pass (stream copy where possible)": "naive (copy)", "processor.Handle (local queue + disk + PostgreSQL)": "processor",
		"worker transcode": "worker transcode",
	} {
		if got := shortName(in); got != want {
			t.Errorf("shortName(%q) = %q, want %q", in, got, want)
		}
	}
}
