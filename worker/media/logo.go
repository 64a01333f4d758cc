package media

import (
	"bytes"
	_ "embed"
)

//go:generate go run ./internal/logogen -o logo.png

// logoPNG is the ANB logo drawn by internal/logogen (a test checks the two agree).
//
//go:embed logo.png
var logoPNG []byte

// Logo returns a copy of the ANB logo as a PNG with alpha.
func Logo() []byte { return bytes.Clone(logoPNG) }
