package mp4_test

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/anb/risingstars/app/mp4"
	"github.com/anb/risingstars/app/mp4/mediatest"
)

func probeBytes(b []byte) (mp4.Info, error) { return mp4.Probe(bytes.NewReader(b), int64(len(b))) }

func TestProbeHandMadeFiles(t *testing.T) {
	rotated := func(m [9]int32) movieSpec {
		s := landscape
		s.tracks = []trackSpec{video(1920, 1080, m)}
		return s
	}
	v1 := landscape
	v1.mvhdVersion = 1
	v1.tracks = []trackSpec{video(1920, 1080, identity)}
	v1.tracks[0].tkhdVersion = 1

	codedOnly := landscape
	codedOnly.tracks = []trackSpec{video(0, 0, identity)}
	codedOnly.tracks[0].entryW, codedOnly.tracks[0].entryH = 1080, 1920

	noTkhd := landscape
	noTkhd.tracks = []trackSpec{video(1920, 1080, identity)}
	noTkhd.tracks[0].noTkhd = true

	audioFirst := landscape
	audioFirst.tracks = []trackSpec{audio(), video(1280, 720, identity)}

	mdhdOnly := landscape
	mdhdOnly.duration = 0
	mdhdOnly.tracks = []trackSpec{video(1920, 1080, identity)}
	mdhdOnly.tracks[0].mdhdDuration = 21 * 15360

	unknownDuration := mdhdOnly
	unknownDuration.duration = 0xFFFFFFFF

	fragmented := landscape
	fragmented.duration = 0
	fragmented.mehd = 42500

	tests := []struct {
		name string
		file []byte
		want mp4.Info
	}{
		{"faststart", file(landscape), mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080}},
		{"moov after a 64-bit mdat", cat(ftyp(), bxLarge("mdat", make([]byte, 100)), landscape.moov()),
			mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080}},
		{"mdat running to the end of the file", cat(ftyp(), landscape.moov(), bxToEnd("mdat", make([]byte, 100))),
			mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080}},
		{"moov running to the end of the file", cat(ftyp(), bx("mdat"), bxToEnd("moov", landscape.moov()[8:])),
			mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080}},
		{"free boxes and trailing padding", cat(ftyp(), bx("free", make([]byte, 9)), landscape.moov(), bx("mdat"), []byte{0, 0, 0}),
			mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080}},
		{"version 1 headers", file(v1), mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080}},
		{"phone portrait: rotated 90", file(rotated(cw90)), mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080, Rotation: 90}},
		{"upside down", file(rotated(cw180)), mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080, Rotation: 180}},
		{"rotated 270", file(rotated(cw270)), mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080, Rotation: 270}},
		{"size only in the sample entry", file(codedOnly), mp4.Info{Duration: 25 * time.Second, Width: 1080, Height: 1920}},
		{"no track header", file(noTkhd), mp4.Info{Duration: 25 * time.Second, Width: 1920, Height: 1080}},
		{"audio track before the video track", file(audioFirst), mp4.Info{Duration: 25 * time.Second, Width: 1280, Height: 720}},
		{"duration from the video track", file(mdhdOnly), mp4.Info{Duration: 21 * time.Second, Width: 1920, Height: 1080}},
		{"unknown movie duration", file(unknownDuration), mp4.Info{Duration: 21 * time.Second, Width: 1920, Height: 1080}},
		{"fragmented, duration in mehd", file(fragmented), mp4.Info{Duration: 42500 * time.Millisecond, Width: 1920, Height: 1080}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := probeBytes(tt.file)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if got != tt.want {
				t.Errorf("Probe = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestProbeRejectsBadFiles(t *testing.T) {
	good := file(landscape)
	moovStart := len(ftyp())

	audioOnly := landscape
	audioOnly.tracks = []trackSpec{audio()}

	badVersion := landscape
	badVersion.tracks = []trackSpec{video(1920, 1080, identity)}
	badVersion.tracks[0].tkhdVersion = 7

	noSize := landscape
	noSize.tracks = []trackSpec{video(0, 0, identity)}

	// A child of moov claiming to be bigger than moov.
	overflow := bytes.Clone(good)
	copy(overflow[moovStart+8:], be32(1<<20))
	// A child of moov whose size is smaller than a box header.
	tiny := bytes.Clone(good)
	copy(tiny[moovStart+8:], be32(4))
	// A 64-bit size near the top of the range.
	huge := cat(ftyp(), be32(1), []byte("mdat"), be64(1<<63-1))

	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, mp4.ErrNotMP4},
		{"text named .mp4", []byte("this is not a video, just some text in a file named clip.mp4\n"), mp4.ErrNotMP4},
		{"png", cat([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)), mp4.ErrNotMP4},
		{"ftyp with a binary brand", cat(be32(24), []byte("ftyp"), []byte{0, 1, 2, 3}, make([]byte, 12)), mp4.ErrNotMP4},
		{"ftyp smaller than its fields", cat(be32(8), []byte("ftyp"), []byte("isom"), be32(0), landscape.moov()), mp4.ErrNotMP4},
		{"ftyp only", ftyp(), mp4.ErrTruncated},
		{"cut in the middle of moov", good[:moovStart+200], mp4.ErrTruncated},
		{"cut in the media data after moov", good[:len(good)-10], mp4.ErrTruncated},
		{"cut in the media data before moov", cat(ftyp(), bx("mdat", make([]byte, 1000)))[:500], mp4.ErrTruncated},
		{"no moov", cat(ftyp(), bx("mdat", make([]byte, 100))), mp4.ErrTruncated},
		{"no video track", file(audioOnly), mp4.ErrNoVideo},
		{"unknown tkhd version", file(badVersion), mp4.ErrMalformed},
		{"video track without a size", file(noSize), mp4.ErrMalformed},
		{"child overflows its parent", overflow, mp4.ErrMalformed},
		{"box smaller than its header", tiny, mp4.ErrMalformed},
		{"absurd 64-bit size", huge, mp4.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := probeBytes(tt.file)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Probe = %+v, %v; want error %v", info, err, tt.want)
			}
		})
	}
}

func TestInfoDisplaySize(t *testing.T) {
	tests := []struct {
		info                 mp4.Info
		wantW, wantH, wantSS int
	}{
		{mp4.Info{Width: 1920, Height: 1080}, 1920, 1080, 1080},
		{mp4.Info{Width: 1920, Height: 1080, Rotation: 90}, 1080, 1920, 1080},
		{mp4.Info{Width: 1920, Height: 1080, Rotation: 180}, 1920, 1080, 1080},
		{mp4.Info{Width: 1280, Height: 720, Rotation: 270}, 720, 1280, 720},
		{mp4.Info{Width: 1080, Height: 1920}, 1080, 1920, 1080},
	}
	for _, tt := range tests {
		if w, h, ss := tt.info.DisplayWidth(), tt.info.DisplayHeight(), tt.info.ShortSide(); w != tt.wantW || h != tt.wantH || ss != tt.wantSS {
			t.Errorf("%+v: display %dx%d short side %d, want %dx%d %d", tt.info, w, h, ss, tt.wantW, tt.wantH, tt.wantSS)
		}
	}
}

// Real files written by ffmpeg, checked against what ffprobe says about them.
func TestProbeFFmpegFiles(t *testing.T) {
	tests := []struct {
		name  string
		clip  mediatest.ClipOptions
		wantW int // display size
		wantH int
	}{
		{"landscape with audio", mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 25, Audio: true}, 1920, 1080},
		{"landscape faststart", mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 25, Audio: true, FastStart: true}, 1920, 1080},
		{"portrait", mediatest.ClipOptions{Width: 1080, Height: 1920, Seconds: 4}, 1080, 1920},
		{"phone portrait (rotated 90)", mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 4, Rotate: 90}, 1080, 1920},
		{"rotated 270", mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 4, Rotate: 270}, 1080, 1920},
		{"upside down", mediatest.ClipOptions{Width: 1280, Height: 720, Seconds: 4, Rotate: 180}, 1280, 720},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := mediatest.Clip(t, tt.clip)
			got := probeFile(t, path)
			ff := mediatest.Probe(t, path)
			v := ff.StreamsOf("video")[0]
			if got.Width != v.Width || got.Height != v.Height || got.Rotation != v.Rotation {
				t.Errorf("Probe = %+v, ffprobe says %dx%d rotated %d", got, v.Width, v.Height, v.Rotation)
			}
			if got.DisplayWidth() != tt.wantW || got.DisplayHeight() != tt.wantH {
				t.Errorf("display size %dx%d, want %dx%d", got.DisplayWidth(), got.DisplayHeight(), tt.wantW, tt.wantH)
			}
			if d := got.Duration - ff.Duration; d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Errorf("duration %v, ffprobe says %v", got.Duration, ff.Duration)
			}
			if want := time.Duration(tt.clip.Seconds) * time.Second; got.Duration < want || got.Duration > want+100*time.Millisecond {
				t.Errorf("duration %v, want about %v", got.Duration, want)
			}
		})
	}
}

func TestProbeTruncatedFFmpegFiles(t *testing.T) {
	for _, fast := range []bool{false, true} {
		data, err := os.ReadFile(mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 25, Audio: true, FastStart: fast}))
		if err != nil {
			t.Fatal(err)
		}
		for _, keep := range []int{len(data) / 2, len(data) - 1, 2000} {
			if _, err := probeBytes(data[:keep]); !errors.Is(err, mp4.ErrTruncated) {
				t.Errorf("faststart=%t, first %d of %d bytes: got %v, want ErrTruncated", fast, keep, len(data), err)
			}
		}
	}
}

func probeFile(t testing.TB, path string) mp4.Info {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	info, err := mp4.Probe(f, fi.Size())
	if err != nil {
		t.Fatalf("Probe(%s): %v", path, err)
	}
	return info
}

// FuzzProbe checks that no input makes Probe panic or loop; hand-made files seed it.
func FuzzProbe(f *testing.F) {
	rot := landscape
	rot.tracks = []trackSpec{audio(), video(0, 0, cw90)}
	rot.tracks[1].entryW, rot.tracks[1].entryH = 1920, 1080
	frag := landscape
	frag.mvhdVersion, frag.duration, frag.mehd = 1, 0, 1000
	for _, seed := range [][]byte{
		file(landscape),
		file(rot),
		file(frag),
		cat(ftyp(), bxLarge("mdat", make([]byte, 8)), landscape.moov()),
		cat(ftyp(), landscape.moov(), bxToEnd("mdat", make([]byte, 8))),
		[]byte("not an mp4"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := probeBytes(b)
		if err == nil && (info.Width <= 0 || info.Height <= 0) {
			t.Errorf("Probe succeeded with size %dx%d", info.Width, info.Height)
		}
	})
}

// BenchmarkProbe probes a real 1080p file whose moov box sits after the media data.
func BenchmarkProbe(b *testing.B) {
	data, err := os.ReadFile(mediatest.Clip(b, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 25, Audio: true}))
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(data)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mp4.Probe(r, int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}
