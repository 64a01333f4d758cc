package media_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/anb/risingstars/app/mp4/mediatest"
	"github.com/anb/risingstars/worker/media"
)

// BenchmarkTranscode runs the pipeline's ffmpeg command on realistic 1080p30 uploads
// and reports ffmpeg's peak memory and the output sizes next to the time per video.
//
//	go test -run XXX -bench Transcode -benchtime 3x ./worker/media
func BenchmarkTranscode(b *testing.B) {
	logo := filepath.Join(b.TempDir(), "logo.png")
	if err := os.WriteFile(logo, media.Logo(), 0o644); err != nil {
		b.Fatal(err)
	}
	p := &media.Pipeline{FFmpeg: mediatest.FFmpeg(b)}
	for _, bc := range []struct {
		name string
		clip mediatest.ClipOptions
	}{
		{"1080p30-30s", mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 30, FPS: 30, Audio: true}},
		{"1080p30-60s", mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 60, FPS: 30, Audio: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := mediatest.Clip(b, bc.clip)
			dir := b.TempDir()
			out, poster := filepath.Join(dir, "out.mp4"), filepath.Join(dir, "poster.jpg")
			var peakRSS int64
			for b.Loop() {
				cmd := exec.Command(p.FFmpeg, p.Args(in, out, poster, logo)...)
				if msg, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, msg)
				}
				peakRSS = max(peakRSS, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) // KiB on Linux
			}
			b.ReportMetric(float64(peakRSS)/1024, "peak-RSS-MiB")
			b.ReportMetric(float64(size(b, out))/(1<<20), "video-MiB")
			b.ReportMetric(float64(size(b, poster))/(1<<10), "poster-KiB")
		})
	}
}

func size(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}
