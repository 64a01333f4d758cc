// Command logogen draws the ANB logo (a basketball beside a white badge with the
// letters "ANB") and writes it as a PNG with alpha. `go generate ./worker/media`
// runs it to refresh worker/media/logo.png, which the pipeline embeds.
//
// The drawing uses integer arithmetic only, so the output is byte-for-byte the same
// on every platform (floating point could differ where the compiler fuses
// multiply-adds) and a test can compare the committed file with a fresh rendering.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
)

// Canvas size in pixels. Wide rather than square: it reads well as a corner watermark.
const (
	width  = 680
	height = 256
)

// Geometry is expressed in units of 1/unit pixel; each pixel is sampled at 4x4 points
// (the centres of its sub-cells) for anti-aliasing.
const (
	unit    = 8
	samples = 4
)

var (
	orange = color.NRGBA{0xF4, 0x7A, 0x20, 0xFF}
	seam   = color.NRGBA{0x1C, 0x12, 0x0C, 0xFF}
	navy   = color.NRGBA{0x0B, 0x25, 0x45, 0xFF}
	white  = color.NRGBA{0xFF, 0xFF, 0xFF, 0xFF}
)

func main() {
	out := flag.String("o", "logo.png", "output PNG file")
	flag.Parse()
	b, err := Encode()
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "logogen:", err)
		os.Exit(1)
	}
}

// Encode renders the logo and returns it as PNG bytes.
func Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, Draw()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// shape reports whether a point, in units, is inside.
type shape func(x, y int64) bool

// layer is a shape painted with a colour that may vary with position (in pixels).
type layer struct {
	in  shape
	col func(px, py int64) color.NRGBA
}

func solid(c color.NRGBA) func(px, py int64) color.NRGBA {
	return func(int64, int64) color.NRGBA { return c }
}

// Draw renders the logo.
func Draw() *image.NRGBA {
	layers := append(badge(), ball()...)
	layers = append(layers, letters()...)
	return paint(layers)
}

// badge is a white pill with an orange rim behind the letters; the ball overlaps its left end.
func badge() []layer {
	return []layer{
		{pill(110, 28, 670, 228), solid(orange)},
		{pill(118, 36, 662, 220), solid(white)},
	}
}

// ball is a shaded orange basketball with a dark outline and the classic four seams.
func ball() []layer {
	const cx, cy, r, line = 128, 128, 118, 4
	inner := circle(cx, cy, r)
	seams := union(
		rect(cx-line, cy-r, cx+line, cy+r),
		rect(cx-r, cy-line, cx+r, cy+line),
		ring(cx-196, cy, 160, line),
		ring(cx+196, cy, 160, line),
	)
	return []layer{
		{circle(cx, cy, r+7), solid(seam)},
		{inner, shade(cx, cy, r)},
		{intersect(inner, seams), solid(seam)},
	}
}

// shade lightens the ball towards its upper left and darkens it towards the lower right.
func shade(cx, cy, r int64) func(px, py int64) color.NRGBA {
	return func(px, py int64) color.NRGBA {
		// t in [-r, r]: the position along the light direction.
		t := ((px - cx) + (py - cy)) * 7 / 10
		t = max(-r, min(r, t))
		c := orange
		if t < 0 { // towards the light: up to +40 on each channel
			c.R = lift(c.R, -t*40/r)
			c.G = lift(c.G, -t*40/r)
			c.B = lift(c.B, -t*40/r)
		} else { // away from it: down to 70 %
			c.R = uint8(int64(c.R) * (100 - t*30/r) / 100)
			c.G = uint8(int64(c.G) * (100 - t*30/r) / 100)
			c.B = uint8(int64(c.B) * (100 - t*30/r) / 100)
		}
		return c
	}
}

func lift(v uint8, d int64) uint8 { return uint8(min(255, int64(v)+d)) }

// letters draws "ANB" in bold block capitals inside the badge.
func letters() []layer {
	const top, bottom, gap, stroke = 70, 186, 20, 30
	x := int64(276)
	a := letterA(x, top, x+112, bottom, stroke)
	x += 112 + gap
	n := letterN(x, top, x+100, bottom, stroke)
	x += 100 + gap
	b := letterB(x, top, x+100, bottom, stroke)
	return []layer{{union(a, n, b), solid(navy)}}
}

func letterA(x0, y0, x1, y1, s int64) shape {
	xm := (x0 + x1) / 2
	half := s * 4 / 10 // half the width of the flat apex
	leg := s           // horizontal thickness of a slanted leg
	outer := polygon(x0, y1, xm-half, y0, xm+half, y0, x1, y1)
	// The inner edges run parallel to the outer ones, leg units inside; they meet on
	// the axis at apexY.
	apexY := y1 - (xm-x0-leg)*(y1-y0)/(xm-half-x0)
	counter := polygon(x0+leg, y1, xm, apexY, x1-leg, y1)
	barTop := y0 + (y1-y0)*62/100
	bar := rect(x0, barTop, x1, barTop+s*7/10)
	return diff(outer, diff(counter, bar))
}

func letterN(x0, y0, x1, y1, s int64) shape {
	diag := s * 13 / 10
	return union(
		rect(x0, y0, x0+s, y1),
		rect(x1-s, y0, x1, y1),
		polygon(x0, y0, x0+diag, y0, x1, y1, x1-diag, y1),
	)
}

func letterB(x0, y0, x1, y1, s int64) shape {
	mid := (y0 + y1) / 2
	topRight := x1 - (x1-x0)/10
	upper := diff(
		roundRight(x0, y0, topRight, mid+s/2),
		roundRight(x0+s, y0+s, topRight-s, mid-s/2),
	)
	lower := diff(
		roundRight(x0, mid-s/2, x1, y1),
		roundRight(x0+s, mid+s/2, x1-s, y1-s),
	)
	return union(rect(x0, y0, x0+s, y1), upper, lower)
}

// Shapes take pixel coordinates and test points in units.

func rect(x0, y0, x1, y1 int64) shape {
	x0, y0, x1, y1 = x0*unit, y0*unit, x1*unit, y1*unit
	return func(x, y int64) bool { return x >= x0 && x < x1 && y >= y0 && y < y1 }
}

func circle(cx, cy, r int64) shape {
	cx, cy, r = cx*unit, cy*unit, r*unit
	return func(x, y int64) bool {
		dx, dy := x-cx, y-cy
		return dx*dx+dy*dy <= r*r
	}
}

// ring is the band of half-width w around the circle (cx, cy, r).
func ring(cx, cy, r, w int64) shape {
	cx, cy = cx*unit, cy*unit
	lo, hi := (r-w)*unit, (r+w)*unit
	return func(x, y int64) bool {
		dx, dy := x-cx, y-cy
		d := dx*dx + dy*dy
		return d >= lo*lo && d <= hi*hi
	}
}

// pill is a rectangle whose short sides are semicircles.
func pill(x0, y0, x1, y1 int64) shape {
	r := (y1 - y0) / 2
	return union(rect(x0+r, y0, x1-r, y1), circle(x0+r, y0+r, r), circle(x1-r, y0+r, r))
}

// roundRight is a rectangle whose right side is a semicircle.
func roundRight(x0, y0, x1, y1 int64) shape {
	r := (y1 - y0) / 2
	return union(rect(x0, y0, x1-r, y1), circle(x1-r, y0+r, r))
}

// polygon takes pixel vertices x0, y0, x1, y1, ... and uses the even-odd rule.
func polygon(xy ...int64) shape {
	pts := make([]int64, len(xy))
	for i, v := range xy {
		pts[i] = v * unit
	}
	n := len(pts) / 2
	return func(x, y int64) bool {
		in := false
		for i, j := 0, n-1; i < n; j, i = i, i+1 {
			xi, yi, xj, yj := pts[2*i], pts[2*i+1], pts[2*j], pts[2*j+1]
			if (yi > y) == (yj > y) {
				continue
			}
			// Is the point left of the edge's crossing at height y? Cross-multiplied
			// to stay in integers; the inequality flips with the sign of yj-yi.
			lhs, rhs := (x-xi)*(yj-yi), (xj-xi)*(y-yi)
			if (yj > yi && lhs < rhs) || (yj < yi && lhs > rhs) {
				in = !in
			}
		}
		return in
	}
}

func union(s ...shape) shape {
	return func(x, y int64) bool {
		for _, f := range s {
			if f(x, y) {
				return true
			}
		}
		return false
	}
}

func intersect(a, b shape) shape { return func(x, y int64) bool { return a(x, y) && b(x, y) } }

func diff(a, b shape) shape { return func(x, y int64) bool { return a(x, y) && !b(x, y) } }

// paint composites the layers back to front with the "over" operator, in
// premultiplied 16-bit integers, and returns the straight-alpha result.
func paint(layers []layer) *image.NRGBA {
	const full = 0xFFFF
	const n = samples * samples
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	step := int64(unit / samples)
	for py := int64(0); py < height; py++ {
		for px := int64(0); px < width; px++ {
			var r, g, b, a int64 // premultiplied, 0..full
			for _, l := range layers {
				cover := int64(0)
				for sy := int64(0); sy < samples; sy++ {
					for sx := int64(0); sx < samples; sx++ {
						if l.in(px*unit+sx*step+step/2, py*unit+sy*step+step/2) {
							cover++
						}
					}
				}
				if cover == 0 {
					continue
				}
				c := l.col(px, py)
				sa := cover * int64(c.A) * 257 / n
				r = int64(c.R)*257*sa/full + r*(full-sa)/full
				g = int64(c.G)*257*sa/full + g*(full-sa)/full
				b = int64(c.B)*257*sa/full + b*(full-sa)/full
				a = sa + a*(full-sa)/full
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(int(px), int(py), color.NRGBA{
				R: uint8(r * 255 / a), G: uint8(g * 255 / a), B: uint8(b * 255 / a), A: uint8(a / 257),
			})
		}
	}
	return img
}
