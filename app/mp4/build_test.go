package mp4_test

import (
	"encoding/binary"
)

// A tiny MP4 writer for hand-made test files: enough boxes for Probe, laid out as
// ISO/IEC 14496-12 specifies.

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// bx is a box with a 32-bit size.
func bx(typ string, payload ...[]byte) []byte {
	body := cat(payload...)
	return cat(be32(uint32(8+len(body))), []byte(typ), body)
}

// bxLarge is a box with size 1 and a 64-bit largesize.
func bxLarge(typ string, payload ...[]byte) []byte {
	body := cat(payload...)
	return cat(be32(1), []byte(typ), be64(uint64(16+len(body))), body)
}

// bxToEnd is a box with size 0: it runs to the end of the file.
func bxToEnd(typ string, payload ...[]byte) []byte {
	return cat(be32(0), []byte(typ), cat(payload...))
}

func ftyp() []byte {
	return bx("ftyp", []byte("isom"), be32(0x200), []byte("isomiso2avc1mp41"))
}

// Transformation matrices (16.16 except the last column, 2.30), as phones write them.
var (
	identity = [9]int32{0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000}
	cw90     = [9]int32{0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000}
	cw180    = [9]int32{-0x10000, 0, 0, 0, -0x10000, 0, 0, 0, 0x40000000}
	cw270    = [9]int32{0, -0x10000, 0, 0x10000, 0, 0, 0, 0, 0x40000000}
)

type trackSpec struct {
	handler       string // "vide", "soun"
	tkhdVersion   byte
	matrix        [9]int32
	width, height uint32 // tkhd, in pixels (0 = unset)
	entryW        uint16 // sample entry (coded) size
	entryH        uint16
	mdhdTimescale uint32
	mdhdDuration  uint64
	noTkhd        bool
}

type movieSpec struct {
	mvhdVersion byte
	timescale   uint32
	duration    uint64
	tracks      []trackSpec
	mehd        uint64 // >0 adds mvex/mehd (fragmented file)
}

func (m movieSpec) moov() []byte {
	var parts [][]byte
	parts = append(parts, mvhd(m.mvhdVersion, m.timescale, m.duration))
	for _, t := range m.tracks {
		parts = append(parts, t.trak())
	}
	if m.mehd > 0 {
		parts = append(parts, bx("mvex", bx("mehd", be32(0), be32(uint32(m.mehd)))))
	}
	return bx("moov", parts...)
}

func mvhd(version byte, timescale uint32, duration uint64) []byte {
	var times []byte
	if version == 1 {
		times = cat(be64(0), be64(0), be32(timescale), be64(duration))
	} else {
		times = cat(be32(0), be32(0), be32(timescale), be32(uint32(duration)))
	}
	rest := cat(be32(0x10000), be16(0x100), make([]byte, 10), matrix(identity), make([]byte, 24), be32(2))
	return bx("mvhd", []byte{version, 0, 0, 0}, times, rest)
}

func matrix(m [9]int32) []byte {
	var out []byte
	for _, v := range m {
		out = append(out, be32(uint32(v))...)
	}
	return out
}

func (t trackSpec) trak() []byte {
	var parts [][]byte
	if !t.noTkhd {
		parts = append(parts, t.tkhd())
	}
	entry := cat(make([]byte, 6), be16(1), make([]byte, 16), be16(t.entryW), be16(t.entryH),
		be32(0x480000), be32(0x480000), be32(0), be16(1), make([]byte, 32), be16(0x18), be16(0xffff))
	fourcc := "avc1"
	if t.handler == "soun" {
		fourcc = "mp4a"
	}
	stsd := bx("stsd", be32(0), be32(1), bx(fourcc, entry))
	mdia := bx("mdia",
		bx("mdhd", []byte{0, 0, 0, 0}, be32(0), be32(0), be32(t.mdhdTimescale), be32(uint32(t.mdhdDuration)), be16(0x55c4), be16(0)),
		bx("hdlr", be32(0), be32(0), []byte(t.handler), make([]byte, 12), []byte("Handler\x00")),
		bx("minf", bx("stbl", stsd, bx("stts", be32(0), be32(0)))),
	)
	parts = append(parts, mdia)
	return bx("trak", parts...)
}

func (t trackSpec) tkhd() []byte {
	var times []byte
	if t.tkhdVersion == 1 {
		times = cat(be64(0), be64(0), be32(1), be32(0), be64(0))
	} else {
		times = cat(be32(0), be32(0), be32(1), be32(0), be32(0))
	}
	return bx("tkhd", []byte{t.tkhdVersion, 0, 0, 3}, times, make([]byte, 16), matrix(t.matrix),
		be32(t.width<<16), be32(t.height<<16))
}

func video(w, h uint32, m [9]int32) trackSpec {
	return trackSpec{handler: "vide", matrix: m, width: w, height: h, entryW: uint16(w), entryH: uint16(h),
		mdhdTimescale: 15360, mdhdDuration: 25 * 15360}
}

func audio() trackSpec {
	return trackSpec{handler: "soun", matrix: identity, mdhdTimescale: 48000, mdhdDuration: 25 * 48000}
}

// file is ftyp, moov and an mdat of a few bytes.
func file(m movieSpec) []byte {
	return cat(ftyp(), m.moov(), bx("mdat", make([]byte, 64)))
}

var landscape = movieSpec{timescale: 1000, duration: 25000, tracks: []trackSpec{video(1920, 1080, identity)}}
