// Package clip makes the test videos of the capacity tools (scripts/loadtest,
// scripts/workerbench) with ffmpeg and runs external commands for them.
package clip

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// Scratch returns the working directory (work, or a new temporary one when
// work is empty) and its cleanup, which removes only a temporary one.
func Scratch(work string) (string, func(), error) {
	if work != "" {
		return work, func() {}, os.MkdirAll(work, 0o755)
	}
	dir, err := os.MkdirTemp("", "anb-loadtest-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// cacheDir keeps generated clips between runs (they take a while to encode).
func cacheDir() string { return filepath.Join(os.TempDir(), "anb-loadtest-clips") }

// Generate returns a cached 1920x1080 30 fps clip of the given length with
// an AAC tone track, encoded like app/mp4/mediatest encodes its clips.
func Generate(ctx context.Context, ffmpeg string, seconds int) (string, error) {
	dir := cacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("clip-1920x1080-%ds-30fps-audio.mp4", seconds))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	fmt.Fprintf(os.Stderr, "generating a %d s 1080p30 clip with ffmpeg...\n", seconds)
	tmp := path + ".tmp.mp4"
	err := Run(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "35", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "mp4", tmp)
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// Pad copies clip into dir and appends an MP4 "free" box so the file is
// exactly size bytes and still a valid MP4 of the same duration.
func Pad(clip, dir string, size int64) (string, error) {
	src, err := os.ReadFile(clip)
	if err != nil {
		return "", err
	}
	free := size - int64(len(src))
	if free < 8 || free > 1<<32-1 {
		return "", fmt.Errorf("cannot pad a %d-byte clip to %d bytes", len(src), size)
	}
	path := filepath.Join(dir, fmt.Sprintf("padded-%d.mp4", size))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	header := []byte{byte(free >> 24), byte(free >> 16), byte(free >> 8), byte(free), 'f', 'r', 'e', 'e'}
	if _, err := f.Write(append(src, header...)); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Truncate(size); err != nil { // zeros: the body of the free box
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// Run runs a command and returns its error with the end of its stderr.
func Run(ctx context.Context, name string, args ...string) error {
	_, err := Output(ctx, name, args...)
	return err
}

// Output runs a command and returns its stderr (where ffmpeg reports), and
// on failure an error with the last 2,000 bytes of it.
func Output(ctx context.Context, name string, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return stderr.String(), fmt.Errorf("%s %v: %w\n%s", filepath.Base(name), args, err, tail)
	}
	return stderr.String(), nil
}
