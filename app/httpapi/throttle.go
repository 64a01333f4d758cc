package httpapi

import (
	"math"
	"strconv"
	"time"

	"github.com/anb/risingstars/app/store"
	"github.com/labstack/echo/v4"
)

// LoginThrottle bounds password guessing without handing anyone a way to
// lock another person out. Failed logins are counted in the database (so
// every web node sees the same counts), in a fixed window, per (account,
// client address), per client address, and per account from every address:
//   - PerAccountAddress failures of one account from one address block that
//     pair only: a guesser stops, the owner elsewhere logs in;
//   - PerAddress failures from one address block that address: a guesser
//     spraying many accounts stops;
//   - PerAccount (far higher) failures of one account from every address
//     put it under attack: each address then gets a single failure on it
//     for the rest of the window. A botnet's guesses drop tenfold, and the
//     owner, whose address has not failed, still logs in: a stranger can
//     slow the guessing of an account down but cannot wall it.
//
// A blocked attempt answers 429 without checking the password, so the
// answer tells nothing about it.
type LoginThrottle struct {
	PerAccountAddress int
	PerAddress        int
	PerAccount        int
	Window            time.Duration // length of a window, from its first failure
}

// Default limits; the README explains the choice.
const (
	DefaultLoginFailuresPerAccountAddress = 10
	DefaultLoginFailuresPerAddress        = 30
	DefaultLoginFailuresPerAccount        = 100
	DefaultLoginFailureWindow             = 15 * time.Minute
)

func (t LoginThrottle) withDefaults() LoginThrottle {
	if t.PerAccountAddress <= 0 {
		t.PerAccountAddress = DefaultLoginFailuresPerAccountAddress
	}
	if t.PerAddress <= 0 {
		t.PerAddress = DefaultLoginFailuresPerAddress
	}
	if t.PerAccount <= 0 {
		t.PerAccount = DefaultLoginFailuresPerAccount
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
	pair     string // the account from this address
	account  string
	address  string
	pairSeen bool // the pair has failures counted now
}

// guardLogin checks the account (an e-mail as typed) and the caller's
// address before any password is checked: a blocked attempt costs one
// primary-key lookup, not a bcrypt comparison.
func (a *api) guardLogin(c echo.Context, email string) (*loginGuard, error) {
	account, address := store.NormalizeEmail(email), addressGroup(a.clientAddress(c.Request()))
	g := &loginGuard{a: a, c: c, t: a.LoginThrottle.withDefaults(),
		pair: "pair:" + address + " " + account, account: "account:" + account, address: "address:" + address}
	// The account's own count never blocks by itself (its limit is out of
	// reach); it only lowers the pair's.
	st, err := a.Accounts.LoginFailures(c.Request().Context(), g.t.Window,
		store.Limit{Subject: g.pair, Max: g.t.PerAccountAddress}, store.Limit{Subject: g.address, Max: g.t.PerAddress},
		store.Limit{Subject: g.account, Max: math.MaxInt})
	if err != nil {
		return nil, err
	}
	var pair store.Window
	pair, g.pairSeen = st.Windows[g.pair]
	if g.pairSeen && st.Windows[g.account].Count >= g.t.PerAccount {
		st.RetryAfter = max(st.RetryAfter, pair.Left)
	}
	if st.RetryAfter > 0 {
		return nil, tooManyLogins(c, st.RetryAfter)
	}
	return g, nil
}

// failed counts a wrong e-mail or password against every subject. Unknown
// accounts count alike, so a 429 tells nothing about whether one exists.
func (g *loginGuard) failed() error {
	return g.a.Accounts.RecordLoginFailure(g.c.Request().Context(), g.t.Window, g.pair, g.address, g.account)
}

// succeeded forgets the pair's failures, so the owner's typos from this
// address start afresh. The address keeps its count (logging in to an
// account of one's own must not buy more guesses at the others), and so
// does the account (the owner's success must not reopen it to a botnet).
func (g *loginGuard) succeeded() error {
	if !g.pairSeen {
		return nil
	}
	return g.a.Accounts.ClearLoginFailures(g.c.Request().Context(), g.pair)
}

func tooManyLogins(c echo.Context, wait time.Duration) error {
	setRetryAfter(c, wait)
	return errTooManyLogins
}

func setRetryAfter(c echo.Context, wait time.Duration) {
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
}
