package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"testing"
)

// The pipeline embeds worker/media/logo.png; it must be exactly what this generator draws.
func TestEmbeddedLogoMatchesGenerator(t *testing.T) {
	want, err := Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../logo.png")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("worker/media/logo.png differs from the generator output; run `go generate ./worker/media`")
	}
}

func TestLogoIsSmallWithTransparentBackground(t *testing.T) {
	b, err := Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 100<<10 {
		t.Errorf("logo is %d bytes, want < 100 KB", len(b))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds(); got != image.Rect(0, 0, width, height) {
		t.Errorf("bounds = %v", got)
	}
	cases := []struct {
		name      string
		x, y      int
		wantAlpha bool
	}{
		{"corner outside the badge", 0, 0, false},
		{"middle of the ball", 100, 100, true},
		{"inside the badge", 450, 60, true},
	}
	for _, c := range cases {
		_, _, _, a := img.At(c.x, c.y).RGBA()
		if (a == 0xFFFF) != c.wantAlpha || (a != 0 && !c.wantAlpha) {
			t.Errorf("%s: alpha at (%d,%d) = %#x", c.name, c.x, c.y, a)
		}
	}
}
