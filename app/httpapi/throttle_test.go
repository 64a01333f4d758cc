package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/httpapi"
	"github.com/anb/risingstars/app/store/storetest"
)

// login posts credentials, from the client address behind the load
// balancer given as X-Forwarded-For ("" = none).
func (e *env) login(email, password, forwardedFor string) response {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+"/api/auth/login",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
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
	if msg := r.message(t); !strings.Contains(msg, "Demasiados intentos") {
		t.Errorf("message %q", msg)
	}
}

func TestFailedLoginsAreThrottledPerAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{noWorker: true})
		e.user("ana@example.com", "Ana", "Cali")
		e.user("bob@example.com", "Bob", "Cali")
		// The default limit, from several addresses: the account is what counts.
		for i := range httpapi.DefaultLoginFailuresPerAccount {
			if r := e.login("ana@example.com", "adivinanza", fmt.Sprintf("203.0.113.%d", i)); r.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
			}
		}
		blocked(t, e.login("ANA@example.com", "adivinanza", "198.51.100.7"), httpapi.DefaultLoginFailureWindow)
		// Even the right password waits: the attacker must not learn it is right.
		blocked(t, e.login("ana@example.com", "clave-segura", "198.51.100.8"), httpapi.DefaultLoginFailureWindow)
		// Other accounts are not affected.
		if r := e.login("bob@example.com", "clave-segura", "203.0.113.1"); r.status != http.StatusOK {
			t.Errorf("another account: %d %s", r.status, r.body)
		}
		// Unknown accounts are counted alike, so 429 tells nothing about existence.
		for range httpapi.DefaultLoginFailuresPerAccount {
			e.login("nadie@example.com", "x", "192.0.2.1")
		}
		blocked(t, e.login("nadie@example.com", "x", "192.0.2.2"), httpapi.DefaultLoginFailureWindow)
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

func TestThrottleWindowEndsAndSuccessForgetsTheAccount(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	window := 2 * time.Second
	e := newEnv(t, db, envOptions{noWorker: true, throttle: httpapi.LoginThrottle{PerAccount: 3, PerAddress: 100, Window: window}})
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
		t.Fatalf("a success did not reset the account's count: %d %s", r.status, r.body)
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
	for i := range httpapi.DefaultLoginFailuresPerAccount {
		if r := nodes[i%2].login("ana@example.com", "adivinanza", ""); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d on node %d: %d", i+1, i%2+1, r.status)
		}
	}
	for i, n := range nodes {
		if r := n.login("ana@example.com", "adivinanza", ""); r.status != http.StatusTooManyRequests {
			t.Errorf("node %d after %d failures spread over both: %d, want 429", i+1, httpapi.DefaultLoginFailuresPerAccount, r.status)
		}
	}
}
