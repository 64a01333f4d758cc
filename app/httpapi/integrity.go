package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/anb/risingstars/app/mail"
	"github.com/anb/risingstars/app/store"
	"github.com/labstack/echo/v4"
)

// SignupThrottle bounds account creation, counted in the database so that
// it holds across web nodes: PerAddress signups per client address and
// Total signups on the whole platform per Window.
type SignupThrottle struct {
	PerAddress int
	Total      int
	Window     time.Duration
}

// Default signup limits; the README explains the choice.
const (
	DefaultSignupsPerAddress = 10
	DefaultSignupsTotal      = 1000
	DefaultSignupWindow      = time.Hour
)

func (t SignupThrottle) withDefaults() SignupThrottle {
	if t.PerAddress <= 0 {
		t.PerAddress = DefaultSignupsPerAddress
	}
	if t.Total <= 0 {
		t.Total = DefaultSignupsTotal
	}
	if t.Window <= 0 {
		t.Window = DefaultSignupWindow
	}
	return t
}

// Verification settings: how long a link works, how many messages an
// account may ask for per hour.
const (
	DefaultVerificationTTL     = 48 * time.Hour
	DefaultVerificationResends = 3
	resendWindow               = time.Hour
)

// Mailer sends e-mail (mail.SES, mail.SMTP or mail.Outbox).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// guardSignup takes a signup slot of the client's address, then one of the
// platform's. The address is asked first, and a refused attempt takes
// nothing: an address over its limit cannot use up the overall count,
// which therefore moves only with signups that each address was allowed.
func (a *api) guardSignup(c echo.Context, address string) error {
	t := a.SignupThrottle.withDefaults()
	ctx := c.Request().Context()
	left, ok, err := a.Accounts.Take(ctx, "signup:address:"+addressGroup(address), t.PerAddress, t.Window)
	if err != nil {
		return err
	}
	if !ok {
		setRetryAfter(c, left)
		return errTooManySignupsAddress
	}
	if left, ok, err = a.Accounts.Take(ctx, "signup:all", t.Total, t.Window); err != nil {
		return err
	}
	if !ok {
		a.Log.WarnContext(ctx, "overall signup limit reached", "limit", t.Total, "window", t.Window.String())
		setRetryAfter(c, left)
		return errTooManySignupsTotal
	}
	return nil
}

// auditHash is what the platform keeps of a client address or user agent:
// an HMAC under a key derived from the JWT secret. The same address gives
// the same hash, which is all the audit needs (grouping), and a copy of
// the database does not give the addresses back.
func (a *api) auditHash(kind, value string) string {
	if value == "" {
		return ""
	}
	return hex.EncodeToString(a.Tokens.Sign("vote-audit/"+kind, value)[:16])
}

// sendVerification makes a new link for the account and mails it. The
// token is 32 random bytes; only its SHA-256 is stored. The message goes
// out in the background: a slow mail server must not hold the request,
// and an account whose message was lost asks for another.
func (a *api) sendVerification(c echo.Context, u store.User) error {
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	ttl := a.VerificationTTL
	if ttl <= 0 {
		ttl = DefaultVerificationTTL
	}
	ctx := c.Request().Context()
	if err := a.Accounts.SaveVerification(ctx, u.ID, tokenHash(token), time.Now().Add(ttl)); err != nil {
		return err
	}
	base := a.PublicURL
	if base == "" {
		base = c.Scheme() + "://" + c.Request().Host
	}
	link := base + "/api/auth/verify?" + url.Values{"token": {token}}.Encode()
	valid := fmt.Sprintf("%d horas", int(ttl.Hours()))
	if ttl < 2*time.Hour {
		valid = fmt.Sprintf("%d minutos", int(ttl.Minutes()))
	}
	msg := mail.Message{
		To:      u.Email,
		Subject: "Confirma tu correo en ANB Rising Stars",
		Text: fmt.Sprintf("Hola %s:\n\nPara confirmar tu correo electrónico y que tus votos cuenten en el ranking, abre este enlace:\n\n%s\n\n"+
			"El enlace sirve una sola vez y vence en %s. Si no creaste una cuenta en ANB Rising Stars, ignora este mensaje.\n",
			u.FirstName, link, valid),
		HTML: fmt.Sprintf(`<p>Hola %s:</p><p>Para confirmar tu correo electrónico y que tus votos cuenten en el ranking, abre este enlace:</p>`+
			`<p><a href="%s">Confirmar mi correo</a></p><p>El enlace sirve una sola vez y vence en %s. `+
			`Si no creaste una cuenta en ANB Rising Stars, ignora este mensaje.</p>`, html.EscapeString(u.FirstName), html.EscapeString(link), valid),
	}
	log := a.Log.With("user_id", u.ID)
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := a.Mailer.Send(ctx, msg); err != nil {
			log.ErrorContext(ctx, "verification message not sent", "error", err)
			return
		}
		log.InfoContext(ctx, "verification message sent")
	}()
	return nil
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// verifyEmail is the link of the message: a page for a person, in Spanish.
func (a *api) verifyEmail(c echo.Context) error {
	if err := queryParams(c, "token"); err != nil {
		return err
	}
	token := c.QueryParam("token")
	if token == "" || len(token) > 100 {
		return verificationPage(c, http.StatusBadRequest, "Enlace no válido",
			"El enlace de verificación no es válido. Ábrelo tal como llegó en el mensaje, o pide uno nuevo desde tu perfil.")
	}
	u, err := a.Accounts.Verify(c.Request().Context(), tokenHash(token))
	switch {
	case errors.Is(err, store.ErrLinkExpired):
		return verificationPage(c, http.StatusGone, "El enlace venció",
			"Este enlace de verificación ya venció. Inicia sesión y pide uno nuevo desde tu perfil.")
	case errors.Is(err, store.ErrLinkInvalid):
		return verificationPage(c, http.StatusBadRequest, "Enlace no válido",
			"Este enlace de verificación no es válido o ya fue usado. Si ya confirmaste tu correo, no tienes que hacer nada más.")
	case err != nil:
		return err
	}
	return verificationPage(c, http.StatusOK, "¡Correo confirmado!",
		fmt.Sprintf("Gracias, %s. Tu correo electrónico quedó verificado y tus votos ya cuentan en el ranking.", u.FirstName))
}

func verificationPage(c echo.Context, status int, title, text string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return c.HTML(status, fmt.Sprintf(`<!doctype html><html lang="es"><head><meta charset="utf-8">`+
		`<meta name="viewport" content="width=device-width, initial-scale=1"><title>%s · ANB Rising Stars</title>`+
		`<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#0b1f3a}</style>`+
		`</head><body><main class="verify"><h1>%s</h1><p id="verify-result">%s</p>`+
		`<p><a href="/">Volver a ANB Rising Stars</a></p></main></body></html>`,
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text)))
}

// resendVerification mails a new link to the caller, a few times an hour.
func (a *api) resendVerification(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := a.Accounts.UserByID(ctx, userID(c))
	if errors.Is(err, store.ErrNotFound) {
		return errUnauthorized
	}
	if err != nil {
		return err
	}
	if u.VerifiedAt != nil {
		return errAlreadyVerified
	}
	resends := a.VerificationResends
	if resends <= 0 {
		resends = DefaultVerificationResends
	}
	left, ok, err := a.Accounts.Take(ctx, "verify:user:"+strconv.FormatInt(u.ID, 10), resends, resendWindow)
	if err != nil {
		return err
	}
	if !ok {
		setRetryAfter(c, left)
		return errTooManyResends
	}
	if err := a.sendVerification(c, u); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"message": "Te enviamos un nuevo mensaje de verificación a " + u.Email + "."})
}

type profile struct {
	UserID        int64      `json:"user_id"`
	FirstName     string     `json:"first_name"`
	LastName      string     `json:"last_name"`
	Email         string     `json:"email"`
	City          string     `json:"city"`
	Country       string     `json:"country"`
	EmailVerified bool       `json:"email_verified"`
	VerifiedAt    *time.Time `json:"verified_at,omitempty"`
	// VotesNeedVerification tells the page whether unverified votes wait.
	VotesNeedVerification bool `json:"votes_need_verification"`
}

// me is the caller's profile, with whether the e-mail is verified.
func (a *api) me(c echo.Context) error {
	u, err := a.Accounts.UserByID(c.Request().Context(), userID(c))
	if errors.Is(err, store.ErrNotFound) {
		return errUnauthorized
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, profile{UserID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email,
		City: u.City, Country: u.Country, EmailVerified: u.VerifiedAt != nil, VerifiedAt: u.VerifiedAt,
		VotesNeedVerification: a.VoteCounting == VoteCountingVerified})
}

// The counting rules (ANB_VOTE_COUNTING).
const (
	VoteCountingAll      = "all"
	VoteCountingVerified = "verified"
)
