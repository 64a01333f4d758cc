//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/httpapi"
	"github.com/anb/risingstars/app/nodespec"
)

// TestClusterLoginThrottle checks failed-login and signup throttling through
// the AWS topology: two web nodes behind the load balancer, one PostgreSQL.
// The counts live in the database, so failures (and signups) spread over
// both nodes add up and the block holds on both; the client address is the
// last X-Forwarded-For entry (the one the balancer wrote), so a client
// cannot escape by writing its own. It starts a cluster of its own (with the
// nodes' default limits) and, at the end, greps every log of it for a token.
func TestClusterLoginThrottle(t *testing.T) {
	c := startCluster(t, Options{Workers: 1, Env: []nodespec.Var{
		{Name: nodespec.EnvSignupsPerAddress, Value: strconv.Itoa(httpapi.DefaultSignupsPerAddress)},
		{Name: nodespec.EnvSignupsTotal, Value: strconv.Itoa(httpapi.DefaultSignupsTotal)}}})

	ana := signUp(t, c.URL, "Ana", "Pérez", "Cali")
	bob := signUp(t, c.URL, "Bob", "Gil", "Cali")
	login := func(email, password, forwardedFor string) response {
		t.Helper()
		p := newClient(c.URL)
		req, _ := http.NewRequest("POST", c.URL+"/api/auth/login", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
		req.Header.Set("Content-Type", "application/json")
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		res, err := p.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{status: res.StatusCode, body: body, header: res.Header}
	}
	is429 := func(r response) bool {
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		return r.status == http.StatusTooManyRequests && err == nil && secs > 0 &&
			strings.Contains(string(r.body), "Demasiados intentos fallidos")
	}

	// 1. Per account and address: the failures land on both nodes and add up.
	failedOn := map[string]int{}
	for i := range httpapi.DefaultLoginFailuresPerAccountAddress {
		r := login(ana.email, "adivinanza", "")
		if r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
		}
		failedOn[r.header.Get("X-Anb-Backend")]++
	}
	if failedOn["web1"] == 0 || failedOn["web2"] == 0 {
		t.Fatalf("failures per node %v: the balancer should have spread them", failedOn)
	}
	blockedOn := map[string]int{}
	for range 4 {
		r := login(ana.email, "canasta-2025", "") // the right password, too late
		if !is429(r) {
			t.Fatalf("after %d failures spread over %v: %d %v %s, want 429 with Retry-After", httpapi.DefaultLoginFailuresPerAccountAddress, failedOn, r.status, r.header, r.body)
		}
		blockedOn[r.header.Get("X-Anb-Backend")]++
	}
	if blockedOn["web1"] == 0 || blockedOn["web2"] == 0 {
		t.Errorf("429s per node %v: want both nodes to refuse", blockedOn)
	}
	t.Logf("account from one address: %d failures (per node %v), then 429 on both nodes %v", httpapi.DefaultLoginFailuresPerAccountAddress, failedOn, blockedOn)

	// 2. Per address: the client writes a new X-Forwarded-For each time; the
	// balancer's entry (127.0.0.1 here, the client's address on AWS) is the
	// one counted, so it reaches the limit anyway.
	left := httpapi.DefaultLoginFailuresPerAddress - httpapi.DefaultLoginFailuresPerAccountAddress
	for i := range left {
		r := login(fmt.Sprintf("nadie%d@example.com", i), "123456", fmt.Sprintf("198.51.100.%d", i+1))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("address failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	if r := login(bob.email, "canasta-2025", "203.0.113.250"); !is429(r) {
		t.Errorf("after %d failures from one address with forged X-Forwarded-For: %d %s, want 429", httpapi.DefaultLoginFailuresPerAddress, r.status, r.body)
	}

	// 3. Signups per address: clients on other loopback addresses are other
	// addresses to the balancer, which writes each one's in X-Forwarded-For.
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: d.DialContext}}
	}
	n := 0
	signup := func(client *http.Client, forwardedFor string) response {
		t.Helper()
		n++
		body := fmt.Sprintf(`{"first_name":"Rafa","last_name":"Gil","email":"rafa%d.%d@example.com","password1":"canasta-2025","password2":"canasta-2025","city":"Cali","country":"Colombia"}`, n, time.Now().UnixNano())
		req, _ := http.NewRequest("POST", c.URL+"/api/auth/signup", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return response{status: res.StatusCode, body: b, header: res.Header}
	}
	script, person := from("127.0.0.2"), from("127.0.0.3")
	createdOn := map[string]int{}
	for i := range httpapi.DefaultSignupsPerAddress {
		r := signup(script, "")
		if r.status != http.StatusCreated {
			t.Fatalf("signup %d from one address: %d %s", i+1, r.status, r.body)
		}
		createdOn[r.header.Get("X-Anb-Backend")]++
	}
	refusedOn := map[string]int{}
	for i := range 6 {
		// Forged entries change nothing: the balancer's is the last one.
		r := signup(script, fmt.Sprintf("198.51.100.%d", i+1))
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != http.StatusTooManyRequests || err != nil || secs < 1 || !strings.Contains(string(r.body), "Demasiados registros desde tu dirección") {
			t.Fatalf("signup past the limit: %d %v %s, want 429 with Retry-After", r.status, r.header, r.body)
		}
		refusedOn[r.header.Get("X-Anb-Backend")]++
	}
	if createdOn["web1"] == 0 || createdOn["web2"] == 0 || refusedOn["web1"] == 0 || refusedOn["web2"] == 0 {
		t.Errorf("signups per node %v, refusals per node %v: want both nodes in each", createdOn, refusedOn)
	}
	if r := signup(person, ""); r.status != http.StatusCreated {
		t.Errorf("a person on another address during the script's block: %d %s", r.status, r.body)
	}
	t.Logf("signups from one address: %d created (per node %v), then 429 on both nodes %v; another address signs up", httpapi.DefaultSignupsPerAddress, createdOn, refusedOn)

	// 4. No log of the cluster holds a token.
	jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	logs, _ := filepath.Glob(filepath.Join(c.LogDir(), "*.log"))
	if len(logs) == 0 {
		t.Fatal("the cluster wrote no logs")
	}
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := jwt.Find(b); m != nil || strings.Contains(string(b), ana.token) {
			t.Errorf("%s holds an access token", f)
		}
	}
}
