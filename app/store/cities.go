package store

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// stripMarks decomposes letters and drops their combining marks: "á" → "a",
// "ñ" → "n", "ç" → "c". Chained transformers and casers keep state while
// they run, so each call gets its own: shared by concurrent requests they
// corrupt each other (a slice-bounds panic under load).
func stripMarks() transform.Transformer {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}

// CityKey is the form a city is compared in: without accents or other
// marks, case-folded (Unicode-wide, so "İ", "ß" and "Σ" fold too) and with
// blanks collapsed. It is computed here rather than in SQL so that both
// databases compare the same keys with one indexed equality; neither
// SQLite nor a stock PostgreSQL can strip accents in an index expression.
func CityKey(city string) string {
	s, _, err := transform.String(stripMarks(), city)
	if err != nil {
		s = city
	}
	return strings.Join(strings.Fields(cases.Fold().String(s)), " ")
}
