package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/httpapi"
	"github.com/anb/risingstars/app/store/storetest"
)

// login posts credentials, from the client address behind the load
// balancer given as X-Forwarded-For ("" = none). The test server's peer
// is loopback, a trusted proxy by default.
func (e *env) login(email, password, forwardedFor string) response {
	e.t.Helper()
	return e.callAs("POST", "/api/auth/login", "", forwardedFor, "", map[string]string{"email": email, "password": password})
}

// serveFrom sends a request to the API as if its connection came from peer
// (an address, not loopback), with an optional X-Forwarded-For.
func (e *env) serveFrom(peer, forwardedFor string, req *http.Request) response {
	e.t.Helper()
	req.RemoteAddr = peer + ":40000"
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func (e *env) loginFrom(peer, forwardedFor, email, password string) response {
	e.t.Helper()
	req := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
	req.Header.Set("Content-Type", "application/json")
	return e.serveFrom(peer, forwardedFor, req)
}

// blocked checks a 429 answer: Retry-After within the window and a Spanish message.
func blocked(t *testing.T, r response, window time.Duration) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.status, r.body)
	}
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > window+time.Second {
		t.Errorf("Retry-After %q, want 1..%v seconds", r.header.Get("Retry-After"), window.Seconds())
	}
	if msg := r.message(t); !strings.Contains(msg, "Demasiados") {
		t.Errorf("message %q", msg)
	}
}

func TestFailedLoginsAreThrottledPerAccountAndAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{noWorker: true})
		e.user("ana@example.com", "Ana", "Cali")
		e.user("bob@example.com", "Bob", "Cali")
		for i := range httpapi.DefaultLoginFailuresPerAccountAddress {
			if r := e.login("ana@example.com", "adivinanza", "203.0.113.66"); r.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
			}
		}
		blocked(t, e.login("ANA@example.com", "adivinanza", "203.0.113.66"), httpapi.DefaultLoginFailureWindow)
		// Even the right password waits: the guesser must not learn it is right.
		blocked(t, e.login("ana@example.com", "clave-segura", "203.0.113.66"), httpapi.DefaultLoginFailureWindow)
		// The owner, from another address, is not locked out.
		if r := e.login("ana@example.com", "clave-segura", "198.51.100.8"); r.status != http.StatusOK {
			t.Errorf("the owner from another address: %d %s", r.status, r.body)
		}
		// Other accounts from the guesser's address are not blocked yet.
		if r := e.login("bob@example.com", "clave-segura", "203.0.113.66"); r.status != http.StatusOK {
			t.Errorf("another account: %d %s", r.status, r.body)
		}
		// Unknown accounts are counted alike, so 429 tells nothing about existence.
		for range httpapi.DefaultLoginFailuresPerAccountAddress {
			e.login("nadie@example.com", "x", "192.0.2.1")
		}
		blocked(t, e.login("nadie@example.com", "x", "192.0.2.1"), httpapi.DefaultLoginFailureWindow)
	})
}

// A stranger failing on an account from many addresses (a botnet, or
// someone who wants the owner locked out) raises the account's count past
// its limit: every address then gets one failure on it, not ten, and the
// owner, from an address that has not failed, still logs in.
func TestAStrangerCannotLockAnAccountOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{noWorker: true, throttle: httpapi.LoginThrottle{PerAccountAddress: 3, PerAddress: 100, PerAccount: 6}})
		e.user("ana@example.com", "Ana", "Cali")
		for i := range 6 {
			if r := e.login("ana@example.com", "adivinanza", fmt.Sprintf("203.0.113.%d", i+1)); r.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
			}
		}
		// Under attack: an address that has failed once is done for the window...
		blocked(t, e.login("ana@example.com", "adivinanza", "203.0.113.1"), httpapi.DefaultLoginFailureWindow)
		// ...a new one gets a single failure...
		if r := e.login("ana@example.com", "adivinanza", "203.0.113.50"); r.status != http.StatusUnauthorized {
			t.Fatalf("a new address's first failure: %d %s", r.status, r.body)
		}
		blocked(t, e.login("ana@example.com", "adivinanza", "203.0.113.50"), httpapi.DefaultLoginFailureWindow)
		// ...and the owner logs in, as many times as she likes.
		for range 3 {
			if r := e.login("ana@example.com", "clave-segura", "198.51.100.20"); r.status != http.StatusOK {
				t.Fatalf("the owner during the attack: %d %s", r.status, r.body)
			}
		}
	})
}

func TestFailedLoginsAreThrottledPerClientAddress(t *testing.T) {
	db := storetest.Open(t, "postgres")
	e := newEnv(t, db, envOptions{noWorker: true})
	e.user("ana@example.com", "Ana", "Cali")
	// The attacker rotates what it can write (the entries before the one the
	// load balancer appends) and the account; the last entry is the same.
	for i := range httpapi.DefaultLoginFailuresPerAddress {
		r := e.login(fmt.Sprintf("victim%d@example.com", i), "123456", fmt.Sprintf("10.%d.0.1, 203.0.113.66", i))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	blocked(t, e.login("ana@example.com", "clave-segura", "1.1.1.1, 203.0.113.66"), httpapi.DefaultLoginFailureWindow)
	// Another client behind the same load balancer logs in.
	if r := e.login("ana@example.com", "clave-segura", "203.0.113.67"); r.status != http.StatusOK {
		t.Errorf("another address: %d %s", r.status, r.body)
	}
	// Several X-Forwarded-For headers: the last entry of the last one counts.
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/auth/login", strings.NewReader(`{"email":"ana@example.com","password":"clave-segura"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("X-Forwarded-For", "203.0.113.67")
	req.Header.Add("X-Forwarded-For", "203.0.113.66")
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("blocked address in a second X-Forwarded-For header: %d", res.StatusCode)
	}
}

// X-Forwarded-For is believed only from a peer in the trusted CIDRs: a
// client reaching a node directly (public or private address alike) cannot
// escape the per-address limit by writing a new header each time.
func TestXForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	limits := httpapi.LoginThrottle{PerAccountAddress: 100, PerAddress: 3}
	spray := func(e *env, peer string) response {
		t.Helper()
		for i := range 3 {
			if r := e.loginFrom(peer, fmt.Sprintf("198.51.100.%d", i+1), fmt.Sprintf("v%d@example.com", i), "123456"); r.status != http.StatusUnauthorized {
				t.Fatalf("%s failure %d: %d %s", peer, i+1, r.status, r.body)
			}
		}
		return e.loginFrom(peer, "198.51.100.99", "v9@example.com", "123456")
	}
	untrusted := newEnv(t, db, envOptions{noWorker: true, throttle: limits})
	for _, peer := range []string{"203.0.113.9", "10.0.0.5", "192.168.1.7", "2001:db8::1"} {
		// Spoofed headers from a public, a private (not configured) and an IPv6 peer: the peer counts.
		blocked(t, spray(untrusted, peer), httpapi.DefaultLoginFailureWindow)
	}
	vpc := newEnv(t, db, envOptions{noWorker: true, throttle: limits, trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}})
	// From the configured proxy range the header names the client: four clients, none blocked.
	if r := spray(vpc, "10.0.3.4"); r.status != http.StatusUnauthorized {
		t.Errorf("four clients behind a trusted proxy: %d %s, want 401", r.status, r.body)
	}
	// Outside that range (loopback is no longer trusted once a range is set) it does not.
	blocked(t, spray(vpc, "127.0.0.1"), httpapi.DefaultLoginFailureWindow)
	// IPv6 clients count per /64 (what one subscriber gets): rotating the
	// low bits is one address to the throttle.
	for i := range 3 {
		if r := vpc.loginFrom("10.0.3.4", fmt.Sprintf("2001:db8:1:2::%x", i+1), "v@example.com", "123456"); r.status != http.StatusUnauthorized {
			t.Fatalf("IPv6 failure %d: %d", i+1, r.status)
		}
	}
	blocked(t, vpc.loginFrom("10.0.3.4", "2001:db8:1:2:ffff::9", "w@example.com", "123456"), httpapi.DefaultLoginFailureWindow)
}

func TestThrottleWindowEndsAndSuccessForgetsThePair(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	window := 2 * time.Second
	e := newEnv(t, db, envOptions{noWorker: true, throttle: httpapi.LoginThrottle{PerAccountAddress: 3, PerAddress: 100, Window: window}})
	e.user("ana@example.com", "Ana", "Cali")
	// Two failures, then a success: the count starts again.
	e.login("ana@example.com", "mal", "")
	e.login("ana@example.com", "mal", "")
	if r := e.login("ana@example.com", "clave-segura", ""); r.status != http.StatusOK {
		t.Fatalf("login: %d", r.status)
	}
	e.login("ana@example.com", "mal", "")
	e.login("ana@example.com", "mal", "")
	if r := e.login("ana@example.com", "clave-segura", ""); r.status != http.StatusOK {
		t.Fatalf("a success did not reset the pair's count: %d %s", r.status, r.body)
	}
	for range 3 {
		e.login("ana@example.com", "mal", "")
	}
	blocked(t, e.login("ana@example.com", "clave-segura", ""), window)
	time.Sleep(window + 100*time.Millisecond)
	if r := e.login("ana@example.com", "clave-segura", ""); r.status != http.StatusOK {
		t.Errorf("after the window: %d %s", r.status, r.body)
	}
}

// Two API servers on one PostgreSQL database, as two web nodes behind the
// load balancer: failures on either count toward one limit, and the block
// holds on both. (The 2-node cluster test in scripts/cluster does the same
// through the real topology.)
func TestThrottleIsSharedByEveryWebNode(t *testing.T) {
	db := storetest.Open(t, "postgres")
	nodes := []*env{newEnv(t, db, envOptions{noWorker: true}), newEnv(t, db, envOptions{noWorker: true})}
	nodes[0].user("ana@example.com", "Ana", "Cali")
	for i := range httpapi.DefaultLoginFailuresPerAccountAddress {
		if r := nodes[i%2].login("ana@example.com", "adivinanza", ""); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d on node %d: %d", i+1, i%2+1, r.status)
		}
	}
	for i, n := range nodes {
		if r := n.login("ana@example.com", "adivinanza", ""); r.status != http.StatusTooManyRequests {
			t.Errorf("node %d after %d failures spread over both: %d, want 429", i+1, httpapi.DefaultLoginFailuresPerAccountAddress, r.status)
		}
	}
}
