// Package media turns an uploaded video into the published one with a single ffmpeg
// run: the first 30 s of content fitted into 1280x720 with letterbox or pillarbox
// bars, the ANB watermark, an opening and a closing card with the logo, no audio,
// H.264 yuv420p with faststart, and a JPEG poster taken from the same filter graph.
package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Output geometry and timing of a processed video.
const (
	Width        = 1280
	Height       = 720
	FrameRate    = 30
	MaxContent   = 30 * time.Second        // content kept from the start of the upload
	CardDuration = 2500 * time.Millisecond // each of the opening and closing cards
	PosterAt     = time.Second             // poster frame, counted from the start of the content
)

// Look of the cards and the watermark.
const (
	cardColor      = "0x0B2545" // ANB navy
	cardLogoWidth  = 640
	markHeight     = 64
	markOpacity    = "0.7"
	markMargin     = 24
	cardFadeSecond = "0.5"
)

// Pipeline runs ffmpeg. The zero value is ready to use.
type Pipeline struct {
	// FFmpeg is the ffmpeg executable; empty means "ffmpeg" looked up on PATH.
	FFmpeg string
}

// Error is a failed ffmpeg run. Log is the tail of ffmpeg's error output, stripped of
// file paths and internal addresses, short enough to show to the video's owner.
type Error struct {
	Err error // usually an *exec.ExitError
	Log string
}

func (e *Error) Error() string {
	if e.Log == "" {
		return fmt.Sprintf("ffmpeg failed: %v", e.Err)
	}
	return fmt.Sprintf("ffmpeg failed: %s (%v)", e.Log, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Transcode reads the video in and writes the processed MP4 to out and the poster
// JPEG to poster, in one ffmpeg invocation. Cancelling ctx kills ffmpeg. On failure
// out and poster are removed and the error is an *Error unless ctx was cancelled.
func (p *Pipeline) Transcode(ctx context.Context, in, out, poster string) error {
	const logoFromStdin = "pipe:0"
	cmd := exec.CommandContext(ctx, p.ffmpeg(), p.Args(in, out, poster, logoFromStdin)...)
	cmd.Stdin = bytes.NewReader(logoPNG)
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second // don't hang on pipes if ffmpeg is killed

	err := cmd.Run()
	if err == nil {
		if fi, statErr := os.Stat(poster); statErr != nil || fi.Size() == 0 {
			err = errors.New("no poster written (the input has no video frames?)")
		}
	}
	if err == nil {
		return nil
	}
	os.Remove(out)
	os.Remove(poster)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("transcode cancelled: %w", ctxErr)
	}
	return &Error{Err: err, Log: cleanLog(stderr.String(), pathNames(in, "input", out, "output", poster, "poster"))}
}

func (p *Pipeline) ffmpeg() string {
	if p.FFmpeg == "" {
		return "ffmpeg"
	}
	return p.FFmpeg
}

// Args returns the ffmpeg arguments (without the program name) that Transcode runs.
// logo is the PNG logo's path, or "pipe:0" to read it from standard input.
func (p *Pipeline) Args(in, out, poster, logo string) []string {
	return []string{
		"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
		// Reading stops after MaxContent; ffmpeg also applies the rotation in the
		// input's display matrix before the graph (autorotate is on by default).
		"-t", seconds(MaxContent), "-i", in,
		// The logo is a single frame: each branch of the graph holds that one frame
		// instead of a looped image stream that would queue up without bound.
		"-f", "png_pipe", "-i", logo,
		"-filter_complex", filterGraph(),
		"-map", "[video]", "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
		"-movflags", "+faststart", "-f", "mp4", out,
		// The poster branch carries the first frames up to PosterAt; the image muxer
		// rewrites the file for each, leaving the frame at PosterAt (or the last one
		// of a shorter input).
		"-map", "[poster]", "-an", "-sn", "-dn", "-map_metadata", "-1",
		"-c:v", "mjpeg", "-q:v", "3", "-update", "1", "-f", "image2", poster,
	}
}

// filterGraph builds: logo → watermark + two card logos; content → fit into the frame
// with bars (using the display aspect ratio, so non-square pixels and rotated inputs
// come out undistorted; sizes rounded to even numbers, which a 16:9 input reaches
// exactly) → watermark → split into the body and the poster branch; opening card +
// body + closing card → concat.
func filterGraph() string {
	fps := strconv.Itoa(FrameRate)
	card := func(in, fade, label string) string {
		return fmt.Sprintf("color=c=%s:s=%dx%d:r=%s:d=%s,setsar=1[%s_bg];[%s_bg][%s]overlay=(W-w)/2:(H-h)/2,%s[%s]",
			cardColor, Width, Height, fps, seconds(CardDuration), label, label, in, fade, label)
	}
	cardEnd := CardDuration.Seconds() - 0.5
	return strings.Join([]string{
		"[1:v]format=rgba,split=3[logo_mark][logo_open][logo_close]",
		fmt.Sprintf("[logo_mark]scale=-1:%d,colorchannelmixer=aa=%s[mark]", markHeight, markOpacity),
		fmt.Sprintf("[logo_open]scale=%d:-1[open_logo]", cardLogoWidth),
		fmt.Sprintf("[logo_close]scale=%d:-1[close_logo]", cardLogoWidth),
		fmt.Sprintf("[0:v]setpts=PTS-STARTPTS,fps=%s,"+
			"scale=w='if(gt(dar,%[2]d/%[3]d),%[2]d,2*round(%[3]d*dar/2))':h='if(gt(dar,%[2]d/%[3]d),2*round(%[2]d/dar/2),%[3]d)',"+
			"setsar=1,pad=%[2]d:%[3]d:(ow-iw)/2:(oh-ih)/2:color=black[fitted]", fps, Width, Height),
		fmt.Sprintf("[fitted][mark]overlay=W-w-%d:H-h-%d[marked]", markMargin, markMargin),
		"[marked]split=2[body][poster_src]",
		fmt.Sprintf("[poster_src]trim=end_frame=%d[poster]", int(PosterAt.Seconds()*FrameRate)+1),
		card("open_logo", "fade=t=in:st=0:d="+cardFadeSecond, "open"),
		card("close_logo", fmt.Sprintf("fade=t=out:st=%g:d=%s", cardEnd, cardFadeSecond), "close"),
		"[open][body][close]concat=n=3:v=1:a=0,format=yuv420p[video]",
	}, ";")
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c1a2b3c0] moov atom not found" → "mov,mp4,m4a,3gp,3g2,mj2: moov atom not found"
var logContext = regexp.MustCompile(`^\[([^\]]+?) @ 0x[0-9a-f]+\] `)

// pathNames replaces each non-empty path with its name, longest path first (at equal
// positions a Replacer tries its pairs in order).
func pathNames(pathName ...string) *strings.Replacer {
	var pairs [][2]string
	for i := 0; i+1 < len(pathName); i += 2 {
		if pathName[i] != "" {
			pairs = append(pairs, [2]string{pathName[i], pathName[i+1]})
		}
	}
	slices.SortStableFunc(pairs, func(a, b [2]string) int { return len(b[0]) - len(a[0]) })
	var args []string
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	return strings.NewReplacer(args...)
}

// cleanLog keeps the last few distinct lines of ffmpeg's stderr, replacing file paths
// with names a user understands.
func cleanLog(s string, paths *strings.Replacer) string {
	const maxLines, maxLen = 4, 400
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		l = paths.Replace(logContext.ReplaceAllString(strings.TrimSpace(l), "$1: "))
		if l != "" && (len(lines) == 0 || lines[len(lines)-1] != l) {
			lines = append(lines, l)
		}
	}
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	out := strings.Join(lines, "; ")
	if len(out) > maxLen {
		out = "…" + strings.ToValidUTF8(out[len(out)-maxLen:], "")
	}
	return out
}
