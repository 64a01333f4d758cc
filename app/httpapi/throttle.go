package httpapi

import (
	"math"
	"strconv"
	"time"

	"github.com/anb/risingstars/app/store"
	"github.com/labstack/echo/v4"
)

// LoginThrottle bounds password guessing. Failed logins are counted in the
// database, per account and per client address, in a fixed window; once a
// count reaches its limit, logins for that account (or from that address)
// answer 429 until the window ends, without checking the password.
type LoginThrottle struct {
	PerAccount int           // failures per account and window
	PerAddress int           // failures per client address and window
	Window     time.Duration // length of a window, from its first failure
}

// Default limits; the README explains the choice.
const (
	DefaultLoginFailuresPerAccount = 10
	DefaultLoginFailuresPerAddress = 30
	DefaultLoginFailureWindow      = 15 * time.Minute
)

func (t LoginThrottle) withDefaults() LoginThrottle {
	if t.PerAccount <= 0 {
		t.PerAccount = DefaultLoginFailuresPerAccount
	}
	if t.PerAddress <= 0 {
		t.PerAddress = DefaultLoginFailuresPerAddress
	}
	if t.Window <= 0 {
		t.Window = DefaultLoginFailureWindow
	}
	return t
}

// loginGuard is the throttling state of one login attempt.
type loginGuard struct {
	a        *api
	c        echo.Context
	t        LoginThrottle
	account  string
	address  string
	accounts bool // the account has failures counted now
}

// guardLogin checks the account (an e-mail as typed) and the caller's
// address before any password is checked: a blocked attempt costs one
// primary-key lookup, not a bcrypt comparison.
func (a *api) guardLogin(c echo.Context, email string) (*loginGuard, error) {
	g := &loginGuard{a: a, c: c, t: a.LoginThrottle.withDefaults(),
		account: "account:" + store.NormalizeEmail(email), address: "address:" + clientAddress(c.Request())}
	st, err := a.Accounts.LoginFailures(c.Request().Context(), g.t.Window,
		store.Limit{Subject: g.account, Max: g.t.PerAccount}, store.Limit{Subject: g.address, Max: g.t.PerAddress})
	if err != nil {
		return nil, err
	}
	for _, s := range st.Counted {
		g.accounts = g.accounts || s == g.account
	}
	if st.RetryAfter > 0 {
		return nil, tooManyLogins(c, st.RetryAfter)
	}
	return g, nil
}

// failed counts a wrong e-mail or password against both subjects.
func (g *loginGuard) failed() error {
	return g.a.Accounts.RecordLoginFailure(g.c.Request().Context(), g.t.Window, g.account, g.address)
}

// succeeded forgets the account's failures, so its owner starts afresh.
// The address keeps its count: logging in to an account of one's own must
// not buy an attacker more guesses at the others.
func (g *loginGuard) succeeded() error {
	if !g.accounts {
		return nil
	}
	return g.a.Accounts.ClearLoginFailures(g.c.Request().Context(), g.account)
}

func tooManyLogins(c echo.Context, wait time.Duration) error {
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	return errTooManyLogins
}
