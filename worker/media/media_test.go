package media_test

import (
	"context"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/mp4/mediatest"
	"github.com/anb/risingstars/worker/media"
)

// Points of a 1280x720 frame: the content always covers the centre; bars, when there
// are any, cover the sides (pillarbox) or the top and bottom (letterbox).
var (
	centre    = image.Pt(640, 360)
	leftEdge  = image.Pt(40, 360)
	rightEdge = image.Pt(1240, 300)
	topEdge   = image.Pt(640, 20)
	// Inside the watermark (bottom right, 24 px margin), on the white of its badge.
	watermark = image.Pt(1198, 645)
)

func TestTranscode(t *testing.T) {
	tests := []struct {
		name    string
		clip    mediatest.ClipOptions
		content time.Duration // expected content kept
		bars    []image.Point // points that must be black bars
		picture []image.Point // points that must show the clip
		// anamorphic marks the clip's pixels as 4:3 wide (as some cameras store 16:9
		// in 1440x1080), so it must fill the frame.
		anamorphic bool
	}{
		{
			name:    "landscape 1080p with audio",
			clip:    mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 25, Audio: true},
			content: 25 * time.Second,
			picture: []image.Point{centre, leftEdge, rightEdge, topEdge},
		},
		{
			name:    "longer than 30 s is cut",
			clip:    mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 45},
			content: 30 * time.Second,
			picture: []image.Point{centre, leftEdge, rightEdge, topEdge},
		},
		{
			name:    "portrait is pillarboxed",
			clip:    mediatest.ClipOptions{Width: 1080, Height: 1920, Seconds: 5},
			content: 5 * time.Second,
			bars:    []image.Point{leftEdge, rightEdge},
			picture: []image.Point{centre, topEdge},
		},
		{
			name:    "phone portrait (rotation metadata) is turned upright and pillarboxed",
			clip:    mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 5, Rotate: 90},
			content: 5 * time.Second,
			bars:    []image.Point{leftEdge, rightEdge},
			picture: []image.Point{centre, topEdge},
		},
		{
			name:    "4:3 is pillarboxed",
			clip:    mediatest.ClipOptions{Width: 1440, Height: 1080, Seconds: 5},
			content: 5 * time.Second,
			bars:    []image.Point{image.Pt(80, 360)},
			picture: []image.Point{centre, image.Pt(240, 360), topEdge},
		},
		{
			name:       "non-square pixels are honoured",
			clip:       mediatest.ClipOptions{Width: 1440, Height: 1080, Seconds: 5},
			content:    5 * time.Second,
			picture:    []image.Point{centre, leftEdge, rightEdge, topEdge},
			anamorphic: true,
		},
		{
			name:    "ultra-wide is letterboxed",
			clip:    mediatest.ClipOptions{Width: 2560, Height: 1080, Seconds: 5},
			content: 5 * time.Second,
			bars:    []image.Point{topEdge, image.Pt(640, 700)},
			picture: []image.Point{centre, leftEdge, rightEdge},
		},
	}
	p := &media.Pipeline{FFmpeg: mediatest.FFmpeg(t)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mediatest.Clip(t, tt.clip)
			dir := t.TempDir()
			if tt.anamorphic {
				in = withAspect(t, in, filepath.Join(dir, "anamorphic.mp4"), "16:9")
			}
			out, poster := filepath.Join(dir, "out.mp4"), filepath.Join(dir, "poster.jpg")
			if err := p.Transcode(t.Context(), in, out, poster); err != nil {
				t.Fatalf("Transcode: %v", err)
			}

			m := mediatest.Probe(t, out)
			if want := tt.content + 2*media.CardDuration; absDuration(m.Duration-want) > 200*time.Millisecond {
				t.Errorf("duration %v, want %v (content + two cards)", m.Duration, want)
			}
			if a := m.StreamsOf("audio"); len(a) != 0 {
				t.Errorf("audio streams %+v, want none", a)
			}
			v := m.StreamsOf("video")
			if len(v) != 1 {
				t.Fatalf("video streams %+v, want one", v)
			}
			want := mediatest.Stream{CodecType: "video", CodecName: "h264", Width: 1280, Height: 720,
				PixFmt: "yuv420p", SampleAspectRatio: "1:1", FrameRate: "30/1"}
			if v[0] != want {
				t.Errorf("video stream %+v, want %+v", v[0], want)
			}
			if !isFastStart(t, out) {
				t.Error("moov box is not before mdat (no +faststart)")
			}

			frame := mediatest.Frame(t, out, media.CardDuration+tt.content/2)
			for _, pt := range tt.bars {
				if !isBlack(frame, pt) {
					t.Errorf("expected a black bar at %v, got %v", pt, frame.At(pt.X, pt.Y))
				}
			}
			for _, pt := range tt.picture {
				if isBlack(frame, pt) {
					t.Errorf("expected the picture at %v, got black", pt)
				}
			}
			r, g, b := rgb(frame, watermark)
			if r < 150 || g < 150 || b < 150 {
				t.Errorf("no watermark at %v: colour %d,%d,%d", watermark, r, g, b)
			}
			checkCards(t, out, tt.content)
			checkPoster(t, poster)
		})
	}
}

func TestTranscodeReportsWhyItFailed(t *testing.T) {
	clip, err := os.ReadFile(mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 25, Audio: true}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		// moov sits at the end of this clip: its first megabyte has no index.
		{"upload cut short", clip[:1<<20], "moov atom not found"},
		{"not a video", []byte("hello, I am a text file named video.mp4\n"), "Invalid data found when processing input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.mp4")
			if err := os.WriteFile(in, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			out, poster := filepath.Join(dir, "out.mp4"), filepath.Join(dir, "poster.jpg")
			err := (&media.Pipeline{}).Transcode(t.Context(), in, out, poster)
			var ferr *media.Error
			if !errors.As(err, &ferr) {
				t.Fatalf("Transcode = %v, want a *media.Error", err)
			}
			if !strings.Contains(ferr.Log, tt.want) {
				t.Errorf("Log = %q, want it to contain %q", ferr.Log, tt.want)
			}
			if strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), " @ 0x") {
				t.Errorf("error %q shows internal paths or addresses", err)
			}
			if len(ferr.Log) > 500 {
				t.Errorf("Log is %d bytes, want a short message", len(ferr.Log))
			}
			for _, f := range []string{out, poster} {
				if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind after a failure", filepath.Base(f))
				}
			}
		})
	}
}

func TestTranscodeStopsWhenCancelled(t *testing.T) {
	in := mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 45})
	dir := t.TempDir()
	out, poster := filepath.Join(dir, "out.mp4"), filepath.Join(dir, "poster.jpg")
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := (&media.Pipeline{}).Transcode(ctx, in, out, poster)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Transcode = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Transcode returned %v after the deadline; ffmpeg was not killed", took)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Error("partial output left behind")
	}
}

func TestTranscodeMissingFFmpeg(t *testing.T) {
	dir := t.TempDir()
	err := (&media.Pipeline{FFmpeg: filepath.Join(dir, "no-ffmpeg")}).Transcode(t.Context(), "in.mp4", filepath.Join(dir, "o.mp4"), filepath.Join(dir, "p.jpg"))
	if err == nil || !strings.Contains(err.Error(), "no-ffmpeg") {
		t.Fatalf("Transcode = %v, want an error naming the missing program", err)
	}
}

// withAspect copies a clip, setting its display aspect ratio in the container.
func withAspect(t *testing.T, in, out, aspect string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), mediatest.FFmpeg(t), "-v", "error", "-nostdin", "-i", in, "-c", "copy", "-aspect", aspect, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return out
}

// checkCards looks at a frame of each card: ANB navy with the logo's white badge in
// the middle.
func checkCards(t *testing.T, path string, content time.Duration) {
	t.Helper()
	for _, at := range []time.Duration{time.Second, media.CardDuration + content + time.Second} {
		frame := mediatest.Frame(t, path, at)
		if r, g, b := rgb(frame, image.Pt(60, 60)); !near(r, 0x0B) || !near(g, 0x25) || !near(b, 0x45) {
			t.Errorf("card at %v: background %d,%d,%d, want navy", at, r, g, b)
		}
		if r, g, b := rgb(frame, image.Pt(744, 289)); r < 200 || g < 200 || b < 200 {
			t.Errorf("card at %v: no logo at the centre (colour %d,%d,%d)", at, r, g, b)
		}
	}
}

func checkPoster(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("poster: %v", err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("poster is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 720 {
		t.Errorf("poster is %dx%d, want 1280x720", b.Dx(), b.Dy())
	}
	if isBlack(img, centre) {
		t.Error("poster shows no picture at the centre")
	}
}

// isFastStart reports whether the top-level moov box comes before mdat.
func isFastStart(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	moov, mdat := strings.Index(string(b), "moov"), strings.Index(string(b), "mdat")
	return moov >= 0 && mdat >= 0 && moov < mdat
}

func rgb(img image.Image, pt image.Point) (r, g, b uint32) {
	r, g, b, _ = img.At(pt.X, pt.Y).RGBA()
	return r >> 8, g >> 8, b >> 8
}

func isBlack(img image.Image, pt image.Point) bool {
	r, g, b := rgb(img, pt)
	return r < 24 && g < 24 && b < 24
}

func near(got uint32, want int) bool { return int(got) >= want-16 && int(got) <= want+16 }

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
