package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokensRefuseEveryForgery(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	tokens := NewTokens(secret, time.Hour)
	good, err := tokens.Issue(42)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := tokens.Verify(good); err != nil || id != 42 {
		t.Fatalf("Verify(good) = %d, %v; want 42, nil", id, err)
	}

	expired := NewTokens(secret, time.Hour)
	expired.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expiredToken, _ := expired.Issue(42)

	foreign, _ := NewTokens([]byte(strings.Repeat("x", 32)), time.Hour).Issue(42)

	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := strings.Replace(string(payload), `"sub":"42"`, `"sub":"1"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamperedPayload)) + "." + parts[2]

	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{
		Subject: "42", Issuer: "anb-rising-stars", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)

	noExpiry, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "42", Issuer: "anb-rising-stars"}).SignedString(secret)

	for name, tok := range map[string]string{
		"expired": expiredToken, "foreign secret": foreign, "tampered": tampered,
		"alg none": none, "no expiry": noExpiry, "garbage": "abc.def.ghi", "empty": "",
	} {
		if _, err := tokens.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify err = %v, want ErrInvalidToken", name, err)
		}
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "correct horse") || !CheckPassword(h, "correct horse") {
		t.Fatal("hash must verify the password without containing it")
	}
	if CheckPassword(h, "wrong horse") || CheckPassword("", "correct horse") {
		t.Fatal("wrong password or unknown user must not match")
	}
}
