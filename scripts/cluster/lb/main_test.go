package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anb/risingstars/app/nodespec"
)

// node is a web node stand-in that echoes the request body and counts
// requests.
type node struct {
	srv   *httptest.Server
	count atomic.Int64
}

func newNode(t *testing.T, name string) *node {
	n := &node{}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.count.Add(1)
		if r.URL.Path == "/hang-up" {
			// Dies mid-request: the connection drops without an answer.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, name+":"+string(b))
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func addr(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func serve(t *testing.T, backends ...string) string {
	lb := newBalancer(backends, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(lb.handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func send(t *testing.T, method, url, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("X-Anb-Backend")
}

func TestSpreadsRequestsRoundRobin(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	url := serve(t, addr(a.srv), addr(b.srv))
	seen := map[string]int{}
	for range 10 {
		status, _, backend := send(t, "GET", url+"/api/public/rankings", "")
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		seen[backend]++
	}
	if seen["web1"] != 5 || seen["web2"] != 5 {
		t.Fatalf("requests per node = %v, want 5 and 5", seen)
	}
}

func TestRequestsToADeadNodeGoToTheOther(t *testing.T) {
	live := newNode(t, "live")
	url := serve(t, closedAddr(t), addr(live.srv))
	for _, method := range []string{"GET", "POST"} {
		for range 4 {
			// A POST is safe to resend too: the connection was refused, so
			// the dead node received nothing of it.
			status, body, backend := send(t, method, url+"/api/auth/login", "the body")
			if status != http.StatusOK || body != "live:the body" || backend != "web2" {
				t.Fatalf("%s: %d %q from %s, want the live node's echo", method, status, body, backend)
			}
		}
	}
}

func TestOnlySafeRequestsAreResentAfterANodeFailsMidRequest(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	url := serve(t, addr(a.srv), addr(b.srv))
	// Both nodes hang up on this path: a GET is tried on each, then 502.
	status, _, _ := send(t, "GET", url+"/hang-up", "")
	if sent := a.count.Load() + b.count.Load(); status != http.StatusBadGateway || sent != 2 {
		t.Fatalf("GET whose nodes hung up: %d after %d tries, want 502 after trying both nodes", status, sent)
	}
	before := a.count.Load() + b.count.Load()
	status, body, _ := send(t, "POST", url+"/hang-up", "vote")
	if status != http.StatusBadGateway || !strings.Contains(body, `"message"`) {
		t.Fatalf("POST whose node hung up: %d %s, want a 502 with a JSON message", status, body)
	}
	if sent := a.count.Load() + b.count.Load() - before; sent != 1 {
		t.Fatalf("a POST that may have been processed was sent %d times, want once", sent)
	}
}

func TestHealthChecksTakeANodeOutAndBackIn(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == nodespec.LivenessPath && !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "flaky")
	}))
	t.Cleanup(flaky.Close)
	other := newNode(t, "other")
	lb := newBalancer([]string{addr(flaky), addr(other.srv)}, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	go lb.checkHealth(ctx, 20*time.Millisecond)
	waitFor := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for lb.backends[0].healthy.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("web1 healthy = %v after 5 s, want %v", !want, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(true)
	healthy.Store(false)
	waitFor(false)
	for range 4 {
		if b := lb.pick(map[*backend]bool{}); b.name != "web2" {
			t.Fatalf("picked %s while web1 is out of service", b.name)
		}
	}
	healthy.Store(true)
	waitFor(true)
}
