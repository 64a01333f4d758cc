// Package mediatest generates real video clips with ffmpeg for tests and inspects
// results with ffprobe. Clips are cached under os.TempDir()/anb-testclips, keyed by
// their options, so each is encoded once per machine and shared by every test
// process (generation writes to a temporary file and renames it into place, under a
// file lock).
//
// ffmpeg and ffprobe must be installed (scripts/test installs them); a missing tool
// fails the test rather than skipping it.
package mediatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anb/risingstars/app/nodespec"
)

// ClipOptions describe a test clip: a testsrc2 pattern of Width x Height coded pixels.
type ClipOptions struct {
	Width, Height int
	Seconds       int
	// FPS is the frame rate; 0 means 10, which keeps clips cheap to generate and to
	// transcode. Use 30 where realistic cost matters (benchmarks).
	FPS int
	// Audio adds an AAC sine tone track.
	Audio bool
	// Rotate is the clockwise display rotation stored in the file (0, 90, 180 or
	// 270): a player shows the Width x Height picture turned by this much.
	Rotate int
	// FastStart puts the moov box before the media data.
	FastStart bool
}

// cacheVersion changes whenever the way clips are encoded changes, so stale cached
// files are not reused.
const cacheVersion = "v1"

func (o ClipOptions) name() string {
	return fmt.Sprintf("clip-%s-%dx%d-%ds-%dfps-audio%t-rot%d-faststart%t.mp4",
		cacheVersion, o.Width, o.Height, o.Seconds, o.FPS, o.Audio, o.Rotate, o.FastStart)
}

// Dir is where clips are cached.
func Dir() string { return filepath.Join(os.TempDir(), "anb-testclips") }

// Clip returns the path of a cached clip with the given options, generating it first
// if needed. The file is shared: tests must not modify it.
func Clip(tb testing.TB, o ClipOptions) string {
	tb.Helper()
	if o.FPS == 0 {
		o.FPS = 10
	}
	if o.Width <= 0 || o.Height <= 0 || o.Width%2 != 0 || o.Height%2 != 0 || o.Seconds <= 0 || o.FPS < 0 {
		tb.Fatalf("mediatest: invalid clip options %+v (need positive even sizes and a positive length)", o)
	}
	if o.Rotate%90 != 0 || o.Rotate < 0 || o.Rotate >= 360 {
		tb.Fatalf("mediatest: Rotate must be 0, 90, 180 or 270, got %d", o.Rotate)
	}
	dir := Dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("mediatest: %v", err)
	}
	path := filepath.Join(dir, o.name())
	if exists(path) {
		return path
	}
	unlock, err := lock(path + ".lock")
	if err != nil {
		tb.Fatalf("mediatest: %v", err)
	}
	defer unlock()
	if exists(path) { // another test process made it while we waited
		return path
	}
	tmp, err := os.CreateTemp(dir, o.name()+".*.tmp")
	if err != nil {
		tb.Fatalf("mediatest: %v", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if o.Rotate == 0 {
		run(tb, FFmpeg(tb), encodeArgs(o, tmp.Name())...)
	} else {
		unrotated := tmp.Name() + ".unrotated"
		defer os.Remove(unrotated)
		run(tb, FFmpeg(tb), encodeArgs(ClipOptions{Width: o.Width, Height: o.Height, Seconds: o.Seconds, FPS: o.FPS, Audio: o.Audio}, unrotated)...)
		run(tb, FFmpeg(tb), rotateArgs(o, unrotated, tmp.Name())...)
	}
	checkRotation(tb, tmp.Name(), o.Rotate)
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		tb.Fatalf("mediatest: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		tb.Fatalf("mediatest: %v", err)
	}
	return path
}

func encodeArgs(o ClipOptions, out string) []string {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", o.Width, o.Height, o.FPS)}
	if o.Audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
	}
	args = append(args, "-t", strconv.Itoa(o.Seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "35", "-pix_fmt", "yuv420p")
	if o.Audio {
		args = append(args, "-c:a", "aac", "-b:a", "64k")
	}
	if o.FastStart {
		args = append(args, "-movflags", "+faststart")
	}
	return append(args, "-f", "mp4", out)
}

// rotateArgs copies in to out with a display rotation. ffmpeg 5.1 only honours the
// legacy rotate tag when copying streams, and stores it as a counter-clockwise angle
// (the opposite of older versions and of phone recordings); checkRotation verifies.
func rotateArgs(o ClipOptions, in, out string) []string {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", in,
		"-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=" + strconv.Itoa((360-o.Rotate)%360)}
	if o.FastStart {
		args = append(args, "-movflags", "+faststart")
	}
	return append(args, "-f", "mp4", out)
}

func checkRotation(tb testing.TB, path string, want int) {
	tb.Helper()
	for _, s := range Probe(tb, path).StreamsOf("video") {
		if s.Rotation != want {
			tb.Fatalf("mediatest: this ffmpeg wrote rotation %d for a requested %d; the helper relies on ffmpeg 5.1's rotate tag", s.Rotation, want)
		}
	}
}

// FFmpeg returns the ffmpeg executable ($ANB_FFMPEG or ffmpeg on PATH), failing the
// test if it is missing.
func FFmpeg(tb testing.TB) string {
	tb.Helper()
	name := os.Getenv(nodespec.EnvFFmpeg)
	if name == "" {
		name = "ffmpeg"
	}
	return lookPath(tb, name)
}

func ffprobe(tb testing.TB) string {
	tb.Helper()
	// ffprobe ships next to ffmpeg.
	if p := filepath.Join(filepath.Dir(FFmpeg(tb)), "ffprobe"); exists(p) {
		return p
	}
	return lookPath(tb, "ffprobe")
}

func lookPath(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("mediatest: %s is required for this test and was not found (%v); install it with `apt-get install -y ffmpeg` (scripts/test does)", name, err)
	}
	return p
}

func run(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(tb.Context(), name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("mediatest: %s %v: %v\n%s", filepath.Base(name), args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// Media is what ffprobe reports about a file.
type Media struct {
	FormatName string // e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "image2"
	Duration   time.Duration
	Streams    []Stream
}

// Stream is one stream of a Media.
type Stream struct {
	CodecType         string // "video", "audio", ...
	CodecName         string // "h264", "mjpeg", "aac", ...
	Width, Height     int
	PixFmt            string
	SampleAspectRatio string // "1:1"; empty if unknown
	FrameRate         string // r_frame_rate, e.g. "30/1"
	// Rotation is the clockwise display rotation from the display matrix, in
	// degrees [0, 360). (ffprobe itself reports the counter-clockwise angle.)
	Rotation int
}

// StreamsOf returns the streams of the given type.
func (m Media) StreamsOf(codecType string) []Stream {
	var out []Stream
	for _, s := range m.Streams {
		if s.CodecType == codecType {
			out = append(out, s)
		}
	}
	return out
}

// Probe runs ffprobe on a file and fails the test if it cannot read it.
func Probe(tb testing.TB, path string) Media {
	tb.Helper()
	out := run(tb, ffprobe(tb), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path)
	var raw struct {
		Format struct {
			FormatName string `json:"format_name"`
			Duration   string `json:"duration"`
		} `json:"format"`
		Streams []struct {
			CodecType         string `json:"codec_type"`
			CodecName         string `json:"codec_name"`
			Width             int    `json:"width"`
			Height            int    `json:"height"`
			PixFmt            string `json:"pix_fmt"`
			SampleAspectRatio string `json:"sample_aspect_ratio"`
			RFrameRate        string `json:"r_frame_rate"`
			SideData          []struct {
				Type     string  `json:"side_data_type"`
				Rotation float64 `json:"rotation"`
			} `json:"side_data_list"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		tb.Fatalf("mediatest: ffprobe output: %v", err)
	}
	m := Media{FormatName: raw.Format.FormatName}
	if raw.Format.Duration != "" {
		sec, err := strconv.ParseFloat(raw.Format.Duration, 64)
		if err != nil {
			tb.Fatalf("mediatest: ffprobe duration %q: %v", raw.Format.Duration, err)
		}
		m.Duration = time.Duration(sec * float64(time.Second))
	}
	for _, s := range raw.Streams {
		st := Stream{
			CodecType: s.CodecType, CodecName: s.CodecName, Width: s.Width, Height: s.Height,
			PixFmt: s.PixFmt, SampleAspectRatio: s.SampleAspectRatio, FrameRate: s.RFrameRate,
		}
		for _, sd := range s.SideData {
			if sd.Type == "Display Matrix" {
				st.Rotation = ((-int(math.Round(sd.Rotation)))%360 + 360) % 360
			}
		}
		m.Streams = append(m.Streams, st)
	}
	return m
}

// Frame decodes the frame of a video shown at the given time, as a player would
// display it (rotation applied).
func Frame(tb testing.TB, path string, at time.Duration) image.Image {
	tb.Helper()
	out := run(tb, FFmpeg(tb), "-hide_banner", "-nostdin", "-loglevel", "error",
		"-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-c:v", "png", "-f", "image2pipe", "-")
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		tb.Fatalf("mediatest: frame at %v of %s: %v", at, path, err)
	}
	return img
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Copy stands in for the ffmpeg pipeline where a test is about the platform,
// not the pipeline: the "processed" file is the original, the poster a stub,
// at once.
type Copy struct{}

// Transcode copies in to out and writes a stub JPEG poster.
func (Copy) Transcode(_ context.Context, in, out, poster string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(poster, []byte("\xff\xd8\xff poster"), 0o644)
}
