// Package mp4 reads what the API needs to accept an upload — duration, picture size
// and rotation — from the boxes of an ISO base media file (MP4, MOV), without
// decoding anything. It reads only box headers and a few small boxes, so probing a
// 100 MB file costs a few dozen small reads wherever its moov box sits.
//
// Every size in the file is checked against its container and the file size before
// use; malformed or truncated input yields an error, never a panic or a large
// allocation.
package mp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

var (
	// ErrNotMP4 means the content is not an ISO base media file (no leading ftyp box),
	// whatever the file is named.
	ErrNotMP4 = errors.New("not an MP4 file")
	// ErrTruncated means the file ends before a box it announces (or has no moov box,
	// as when a recording was interrupted).
	ErrTruncated = errors.New("mp4: file is truncated")
	// ErrMalformed means the boxes contradict each other or hold impossible values.
	ErrMalformed = errors.New("mp4: malformed file")
	// ErrNoVideo means the file has no video track.
	ErrNoVideo = errors.New("mp4: no video track")
)

// Info describes the first video track of a file.
type Info struct {
	Duration time.Duration
	// Width and Height are the size of the track's picture before rotation: the
	// track header's size (which already accounts for non-square pixels) or, when
	// that is zero, the coded size from the sample description.
	Width, Height int
	// Rotation is how far a player turns the picture clockwise for display: 0, 90,
	// 180 or 270 degrees (from the track's transformation matrix; phones record
	// portrait video as landscape pictures with Rotation 90).
	Rotation int
}

// DisplayWidth is the width of the picture as shown, after rotation.
func (i Info) DisplayWidth() int {
	if i.Rotation == 90 || i.Rotation == 270 {
		return i.Height
	}
	return i.Width
}

// DisplayHeight is the height of the picture as shown, after rotation.
func (i Info) DisplayHeight() int {
	if i.Rotation == 90 || i.Rotation == 270 {
		return i.Width
	}
	return i.Height
}

// ShortSide is the smaller of the two dimensions (e.g. 1080 for 1080p in either
// orientation).
func (i Info) ShortSide() int { return min(i.Width, i.Height) }

// Bounds on the structure we are willing to walk. Real files have a handful of
// top-level boxes (a few thousand for finely fragmented ones) and few children per box.
const (
	maxBoxes    = 1 << 16
	minFtypSize = 16 // header + major brand + minor version
)

// Probe reads the file r of the given size.
func Probe(r io.ReaderAt, size int64) (Info, error) {
	p := &parser{r: r, size: size}
	moov, err := p.topLevel()
	if err != nil {
		return Info{}, err
	}
	return p.movie(moov)
}

type parser struct {
	r    io.ReaderAt
	size int64
}

// box is a box's type and extent: [start, end) in the file, payload from data.
type box struct {
	typ   string
	start int64
	data  int64
	end   int64
}

func (b box) String() string { return fmt.Sprintf("%q box at offset %d", b.typ, b.start) }

// read returns n bytes at off; a read past the end of the file is ErrTruncated.
func (p *parser) read(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off > p.size || int64(n) > p.size-off {
		return nil, fmt.Errorf("%w: need %d bytes at offset %d, file has %d", ErrTruncated, n, off, p.size)
	}
	buf := make([]byte, n)
	if _, err := p.r.ReadAt(buf, off); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: read at offset %d: %v", ErrTruncated, off, err)
		}
		return nil, fmt.Errorf("mp4: read at offset %d: %w", off, err)
	}
	return buf, nil
}

// header reads the box header at off inside a container ending at limit. size 1
// means a 64-bit size follows; size 0 means the box runs to the end of its container.
// The returned box may extend past limit: the caller decides whether that means a
// truncated file or a malformed one.
func (p *parser) header(off, limit int64) (box, error) {
	h, err := p.read(off, 8)
	if err != nil {
		return box{}, err
	}
	b := box{typ: string(h[4:8]), start: off, data: off + 8}
	size := int64(binary.BigEndian.Uint32(h))
	switch size {
	case 0:
		size = limit - off
	case 1:
		ext, err := p.read(off+8, 8)
		if err != nil {
			return box{}, err
		}
		large := binary.BigEndian.Uint64(ext)
		if large > 1<<62 {
			return box{}, fmt.Errorf("%w: %s has an impossible size %d", ErrMalformed, b, large)
		}
		size = int64(large)
		b.data += 8
	}
	if size < b.data-off {
		return box{}, fmt.Errorf("%w: %s has size %d, smaller than its header", ErrMalformed, b, size)
	}
	if size > math.MaxInt64-off {
		return box{}, fmt.Errorf("%w: %s has an impossible size %d", ErrMalformed, b, size)
	}
	b.end = off + size
	return b, nil
}

// topLevel checks the ftyp box, walks every top-level box to make sure the file is
// complete, and returns the moov box (which may come before or after the media data).
func (p *parser) topLevel() (box, error) {
	if p.size < minFtypSize {
		return box{}, fmt.Errorf("%w: only %d bytes", ErrNotMP4, p.size)
	}
	head, err := p.read(0, minFtypSize)
	if err != nil {
		return box{}, err
	}
	if string(head[4:8]) != "ftyp" || !isBrand(head[8:12]) {
		return box{}, fmt.Errorf("%w: no ftyp box at the start", ErrNotMP4)
	}
	var moov box
	found := false
	off := int64(0)
	for n := 0; off < p.size; n++ {
		if n == maxBoxes {
			return box{}, fmt.Errorf("%w: more than %d top-level boxes", ErrMalformed, maxBoxes)
		}
		if p.size-off < 8 {
			break // trailing padding too short to be a box
		}
		b, err := p.header(off, p.size)
		if err != nil {
			return box{}, err
		}
		if n == 0 && b.end-b.start < minFtypSize {
			return box{}, fmt.Errorf("%w: ftyp box of %d bytes", ErrNotMP4, b.end-b.start)
		}
		if b.end > p.size {
			return box{}, fmt.Errorf("%w: %s needs %d bytes, file has %d", ErrTruncated, b, b.end-b.start, p.size-b.start)
		}
		if b.typ == "moov" && !found {
			moov, found = b, true
		}
		off = b.end
	}
	if !found {
		return box{}, fmt.Errorf("%w: no moov box (the recording was not finished?)", ErrTruncated)
	}
	return moov, nil
}

// MajorBrand is the major brand of the file's leading ftyp box ("isom",
// "mp42", "qt  " for QuickTime...), or "" when it has none.
func MajorBrand(r io.ReaderAt) string {
	head := make([]byte, 12)
	if _, err := r.ReadAt(head, 0); err != nil || string(head[4:8]) != "ftyp" || !isBrand(head[8:12]) {
		return ""
	}
	return string(head[8:12])
}

// BrandQuickTime is the major brand of QuickTime movies (.mov): the same
// box structure as MP4, but not an MP4 file.
const BrandQuickTime = "qt  "

// isBrand reports whether b looks like a four-character brand code.
func isBrand(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// children calls fn for each box directly inside parent, stopping early when fn
// returns false. A child that overflows its parent is malformed.
func (p *parser) children(parent box, fn func(box) (bool, error)) error {
	off := parent.data
	for n := 0; off < parent.end; n++ {
		if n == maxBoxes {
			return fmt.Errorf("%w: more than %d boxes in %s", ErrMalformed, maxBoxes, parent)
		}
		if parent.end-off < 8 {
			return nil // some writers pad containers with a 4-byte terminator
		}
		b, err := p.header(off, parent.end)
		if err != nil {
			return err
		}
		if b.end > parent.end {
			return fmt.Errorf("%w: %s overflows its parent %s", ErrMalformed, b, parent)
		}
		more, err := fn(b)
		if err != nil || !more {
			return err
		}
		off = b.end
	}
	return nil
}

// child returns the first box of type typ inside parent.
func (p *parser) child(parent box, typ string) (box, bool, error) {
	var found box
	ok := false
	err := p.children(parent, func(b box) (bool, error) {
		if b.typ == typ {
			found, ok = b, true
		}
		return !ok, nil
	})
	return found, ok, err
}

// path follows a chain of box types down from parent, e.g. "mdia", "minf", "stbl".
func (p *parser) path(parent box, types ...string) (box, bool, error) {
	b := parent
	for _, t := range types {
		next, ok, err := p.child(b, t)
		if err != nil || !ok {
			return box{}, ok, err
		}
		b = next
	}
	return b, true, nil
}

// payload reads the first n bytes of b's payload; a shorter box is malformed.
func (p *parser) payload(b box, n int) ([]byte, error) {
	if b.end-b.data < int64(n) {
		return nil, fmt.Errorf("%w: %s is %d bytes, too short", ErrMalformed, b, b.end-b.start)
	}
	return p.read(b.data, n)
}

// fullBox reads a versioned box whose payload is n0 bytes long in version 0 and n1
// bytes in version 1.
func (p *parser) fullBox(b box, n0, n1 int) (version byte, buf []byte, err error) {
	v, err := p.payload(b, 1)
	if err != nil {
		return 0, nil, err
	}
	switch v[0] {
	case 0:
		buf, err = p.payload(b, n0)
	case 1:
		buf, err = p.payload(b, n1)
	default:
		err = fmt.Errorf("%w: %s has unknown version %d", ErrMalformed, b, v[0])
	}
	return v[0], buf, err
}

// span is a duration in units of a timescale (ticks per second).
type span struct {
	units     uint64
	timescale uint32
}

// valid rejects zero timescales and the all-ones "unknown" duration.
func (s span) valid(version byte) bool {
	unknown := uint64(1<<32 - 1)
	if version == 1 {
		unknown = 1<<64 - 1
	}
	return s.timescale > 0 && s.units > 0 && s.units != unknown
}

func (s span) duration() time.Duration {
	sec := s.units / uint64(s.timescale)
	if sec >= uint64(time.Duration(1<<63-1)/time.Second) {
		return time.Duration(1<<63 - 1) // absurd; the caller's range check rejects it
	}
	rem := s.units % uint64(s.timescale) // < 2^32, so rem*1e9 fits in 63 bits
	return time.Duration(sec)*time.Second + time.Duration(rem*uint64(time.Second)/uint64(s.timescale))
}

// readSpan reads the timescale and duration of an mvhd or mdhd box, which share
// this layout: version/flags, creation and modification times, timescale, duration.
func (p *parser) readSpan(b box) (span, bool, error) {
	v, buf, err := p.fullBox(b, 20, 32)
	if err != nil {
		return span{}, false, err
	}
	var s span
	if v == 0 {
		s = span{units: uint64(binary.BigEndian.Uint32(buf[16:])), timescale: binary.BigEndian.Uint32(buf[12:])}
	} else {
		s = span{units: binary.BigEndian.Uint64(buf[24:]), timescale: binary.BigEndian.Uint32(buf[20:])}
	}
	return s, s.valid(v), nil
}

// movie reads the moov box: the movie duration and the first video track.
func (p *parser) movie(moov box) (Info, error) {
	var (
		movie, fragments span
		movieOK, fragOK  bool
		video            *track
	)
	err := p.children(moov, func(b box) (bool, error) {
		var err error
		switch b.typ {
		case "mvhd":
			movie, movieOK, err = p.readSpan(b)
		case "mvex":
			fragments.units, fragOK, err = p.fragmentDuration(b)
		case "trak":
			if video == nil {
				video, err = p.track(b)
			}
		}
		return true, err
	})
	if err != nil {
		return Info{}, err
	}
	if video == nil {
		return Info{}, ErrNoVideo
	}
	info := Info{Width: video.width, Height: video.height, Rotation: video.rotation}
	switch {
	case movieOK:
		info.Duration = movie.duration()
	case fragOK && movie.timescale > 0:
		fragments.timescale = movie.timescale
		info.Duration = fragments.duration()
	case video.durationOK:
		info.Duration = video.duration.duration()
	}
	return info, nil
}

// fragmentDuration reads mvex/mehd, the total duration of a fragmented file in the
// movie timescale.
func (p *parser) fragmentDuration(mvex box) (uint64, bool, error) {
	mehd, ok, err := p.child(mvex, "mehd")
	if err != nil || !ok {
		return 0, false, err
	}
	v, buf, err := p.fullBox(mehd, 8, 12)
	if err != nil {
		return 0, false, err
	}
	if v == 0 {
		d := uint64(binary.BigEndian.Uint32(buf[4:]))
		return d, d > 0, nil
	}
	d := binary.BigEndian.Uint64(buf[4:])
	return d, d > 0, nil
}

// track is what we keep of a video track.
type track struct {
	width, height int
	rotation      int
	duration      span
	durationOK    bool
}

// track returns the trak's details if it is a video track, nil otherwise.
func (p *parser) track(trak box) (*track, error) {
	mdia, ok, err := p.child(trak, "mdia")
	if err != nil || !ok {
		return nil, err
	}
	hdlr, ok, err := p.child(mdia, "hdlr")
	if err != nil || !ok {
		return nil, err
	}
	h, err := p.payload(hdlr, 12) // version/flags, pre_defined, handler_type
	if err != nil {
		return nil, err
	}
	if string(h[8:12]) != "vide" {
		return nil, nil
	}

	t := &track{}
	tkhd, ok, err := p.child(trak, "tkhd")
	if err != nil {
		return nil, err
	}
	if ok {
		if err := p.readTkhd(tkhd, t); err != nil {
			return nil, err
		}
	}
	if mdhd, ok, err := p.child(mdia, "mdhd"); err != nil {
		return nil, err
	} else if ok {
		if t.duration, t.durationOK, err = p.readSpan(mdhd); err != nil {
			return nil, err
		}
	}
	if t.width == 0 || t.height == 0 {
		if t.width, t.height, err = p.sampleEntrySize(mdia); err != nil {
			return nil, err
		}
	}
	if t.width == 0 || t.height == 0 {
		return nil, fmt.Errorf("%w: video track without a picture size", ErrMalformed)
	}
	return t, nil
}

// readTkhd reads the display size (16.16 fixed point) and the rotation from the
// transformation matrix of a track header.
func (p *parser) readTkhd(tkhd box, t *track) error {
	v, buf, err := p.fullBox(tkhd, 84, 96)
	if err != nil {
		return err
	}
	matrix := 40 // version/flags + 20 bytes of times/ids + 16 reserved/layer/volume
	if v == 1 {
		matrix = 52
	}
	a := int32(binary.BigEndian.Uint32(buf[matrix:]))
	b := int32(binary.BigEndian.Uint32(buf[matrix+4:]))
	t.rotation = rotation(a, b)
	t.width = fixed16(binary.BigEndian.Uint32(buf[matrix+36:]))
	t.height = fixed16(binary.BigEndian.Uint32(buf[matrix+40:]))
	return nil
}

// rotation classifies the matrix {a b u; c d v; x y w}, which maps a picture point
// (x, y) to (a·x + c·y, b·x + d·y), by where it sends the x axis: (a, b) = (1, 0) is
// upright, (0, 1) points down (90° clockwise on screen), (-1, 0) is 180°, (0, -1) 270°.
// Scaling and mirroring do not change the display size, so they are ignored.
func rotation(a, b int32) int {
	absA, absB := abs(int64(a)), abs(int64(b))
	switch {
	case absA >= absB && a >= 0:
		return 0
	case absA >= absB:
		return 180
	case b > 0:
		return 90
	default:
		return 270
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// fixed16 rounds a 16.16 fixed-point value to an integer.
func fixed16(v uint32) int { return int((uint64(v) + 0x8000) >> 16) }

// sampleEntrySize reads the coded width and height from the first sample entry in
// mdia/minf/stbl/stsd. Every visual sample entry (avc1, hvc1, av01, ...) starts with
// 6 reserved bytes, a data reference index, 16 bytes of pre-defined/reserved, then
// 16-bit width and height.
func (p *parser) sampleEntrySize(mdia box) (int, int, error) {
	stsd, ok, err := p.path(mdia, "minf", "stbl", "stsd")
	if err != nil || !ok {
		return 0, 0, err
	}
	if stsd.end-stsd.data < 8+8 { // version/flags, entry count, one entry header
		return 0, 0, nil
	}
	entry, err := p.header(stsd.data+8, stsd.end)
	if err != nil {
		return 0, 0, err
	}
	if entry.end > stsd.end {
		return 0, 0, fmt.Errorf("%w: %s overflows %s", ErrMalformed, entry, stsd)
	}
	buf, err := p.payload(entry, 28)
	if err != nil {
		return 0, 0, err
	}
	return int(binary.BigEndian.Uint16(buf[24:])), int(binary.BigEndian.Uint16(buf[26:])), nil
}
