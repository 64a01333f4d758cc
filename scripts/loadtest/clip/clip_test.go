package clip

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Pad makes the large uploads of -mode upload: exactly the size asked for,
// the clip's bytes first, then one MP4 "free" box covering the rest.
func TestPad(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "clip.mp4")
	body := bytes.Repeat([]byte("mp4!"), 1000)
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	path, err := Pad(src, dir, size)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != size || !bytes.Equal(got[:len(body)], body) {
		t.Fatalf("padded file: %d bytes, clip kept: %v", len(got), bytes.Equal(got[:len(body)], body))
	}
	box := got[len(body):]
	if n := binary.BigEndian.Uint32(box); int(n) != len(box) || string(box[4:8]) != "free" {
		t.Errorf("trailing box: size %d type %q, want %d free", n, box[4:8], len(box))
	}
	if bytes.ContainsFunc(box[8:], func(r rune) bool { return r != 0 }) {
		t.Error("the free box's body is not zeros")
	}

	for _, bad := range []int64{int64(len(body)), int64(len(body)) + 7, 1 << 33} {
		if _, err := Pad(src, dir, bad); err == nil {
			t.Errorf("Pad to %d bytes: want an error (no room for a box, or a box too large)", bad)
		}
	}
}

// A tiny real clip stays a valid MP4 of the same duration once padded.
func TestPadKeepsAPlayableMP4(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("no ffprobe")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "tiny.mp4")
	ctx := context.Background()
	if err := Run(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", src); err != nil {
		t.Skip("ffmpeg cannot encode here:", err)
	}
	padded, err := Pad(src, dir, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	duration := func(p string) string {
		out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", p).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", p, err)
		}
		return strings.TrimSpace(string(out))
	}
	if a, b := duration(src), duration(padded); a != b || a == "" {
		t.Errorf("duration %q before padding, %q after", a, b)
	}
}

// A failing command's error carries the end of its stderr.
func TestOutputReportsStderr(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	stderr, err := Output(context.Background(), sh, "-c", "echo first >&2; echo last words >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "last words") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(stderr, "first") {
		t.Errorf("stderr %q", stderr)
	}
	if out, err := Output(context.Background(), sh, "-c", "echo SSIM All:0.99 >&2"); err != nil || !strings.Contains(out, "All:0.99") {
		t.Errorf("a successful command's stderr: %q, %v", out, err)
	}
}

func TestScratch(t *testing.T) {
	given := filepath.Join(t.TempDir(), "work")
	dir, cleanup, err := Scratch(given)
	if err != nil || dir != given {
		t.Fatalf("Scratch(%q) = %q, %v", given, dir, err)
	}
	cleanup()
	if _, err := os.Stat(given); err != nil {
		t.Error("the cleanup removed a directory the user gave")
	}
	tmp, cleanup, err := Scratch("")
	if err != nil {
		t.Fatal(err)
	}
	cleanup()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary %s left behind", tmp)
	}
}
