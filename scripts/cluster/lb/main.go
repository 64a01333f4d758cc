// Command lb is the load balancer of the local cluster, standing in for the
// Application Load Balancer: it spreads requests over the web nodes round
// robin, checks GET nodespec.LivenessPath on each every interval, and sends a request to
// another node when the one it picked cannot take it.
//
//	lb -listen 127.0.0.1:8080 -backends 127.0.0.1:8081,127.0.0.1:8082
//
// A request is tried on the next node when the connection to the node failed
// (nothing of the request was sent), and a GET, HEAD or OPTIONS request also
// when the node failed before answering: those are safe to repeat. Other
// requests in flight on a node that dies fail with 502, as on an ALB. Every
// response names the node that served it in X-Anb-Backend.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anb/risingstars/app/nodespec"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	backends := flag.String("backends", "", "comma-separated host:port of the web nodes")
	interval := flag.Duration("health-interval", time.Second, "time between health checks of a node")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("role", "lb")
	if *backends == "" {
		fmt.Fprintln(os.Stderr, "lb: -backends is required")
		os.Exit(2)
	}
	lb := newBalancer(strings.Split(*backends, ","), log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go lb.checkHealth(ctx, *interval)

	srv := &http.Server{Addr: *listen, Handler: lb.handler(), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lb:", err)
		os.Exit(1)
	}
	go srv.Serve(ln)
	log.Info("serving", "addr", ln.Addr().String(), "backends", *backends)
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	log.Info("stopped")
}

type backend struct {
	name    string // web1, web2, ... in the order given
	addr    string
	healthy atomic.Bool
	// consecutive results of active checks, for the thresholds
	mu        sync.Mutex
	successes int
	failures  int
}

// A node is taken out after 2 failed checks (or at once when a connection
// to it fails) and back in after 2 good ones.
const threshold = 2

type balancer struct {
	backends  []*backend
	next      atomic.Uint64
	transport *http.Transport
	log       *slog.Logger
}

func newBalancer(addrs []string, log *slog.Logger) *balancer {
	lb := &balancer{log: log, transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}}
	for i, a := range addrs {
		lb.backends = append(lb.backends, &backend{name: fmt.Sprintf("web%d", i+1), addr: strings.TrimSpace(a)})
	}
	return lb
}

func (lb *balancer) handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetXForwarded()
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = "backend" // chosen per attempt by RoundTrip
			r.Out.Host = r.In.Host
		},
		Transport: lb,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			lb.log.Warn("request failed on every node it could go to", "method", r.Method, "path", r.URL.Path, "error", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"message":"El servicio no está disponible en este momento; inténtalo de nuevo."}`)
		},
	}
}

// RoundTrip sends the request to a healthy node, and to the next one when
// the attempt failed in a way that is safe to repeat.
func (lb *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	body := &onceBody{r: req.Body}
	safe := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions
	tried := map[*backend]bool{}
	var lastErr error
	for len(tried) < len(lb.backends) {
		b := lb.pick(tried)
		tried[b] = true
		out := req.Clone(req.Context())
		out.URL.Host = b.addr
		if req.Body != nil && req.Body != http.NoBody {
			out.Body = body
			// Lets the transport itself resend on a fresh connection when a
			// kept-alive one turns out closed before anything was written.
			out.GetBody = body.again
		}
		resp, err := lb.transport.RoundTrip(out)
		if err == nil {
			resp.Header.Set("X-Anb-Backend", b.name)
			return resp, nil
		}
		lastErr = err
		if req.Context().Err() != nil {
			return nil, err
		}
		var op *net.OpError
		refused := errors.As(err, &op) && op.Op == "dial"
		if refused {
			lb.markDown(b, err)
		}
		if !(refused && !body.started()) && !(safe && !body.started()) {
			return nil, err
		}
		lb.log.Info("retrying on another node", "node", b.name, "method", req.Method, "path", req.URL.Path, "error", err)
	}
	return nil, lastErr
}

// pick chooses the next healthy node round robin; when none is known
// healthy it tries them all rather than refusing traffic.
func (lb *balancer) pick(tried map[*backend]bool) *backend {
	n := len(lb.backends)
	start := int(lb.next.Add(1))
	for _, wantHealthy := range []bool{true, false} {
		for i := range n {
			b := lb.backends[(start+i)%n]
			if !tried[b] && (!wantHealthy || b.healthy.Load()) {
				return b
			}
		}
	}
	return nil
}

func (lb *balancer) markDown(b *backend, err error) {
	b.mu.Lock()
	b.successes = 0
	b.mu.Unlock()
	if b.healthy.Swap(false) {
		lb.log.Warn("node out of service", "node", b.name, "reason", err.Error())
	}
}

func (lb *balancer) checkHealth(ctx context.Context, interval time.Duration) {
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 2 * time.Second}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, b := range lb.backends {
			wg.Go(func() { lb.check(ctx, client, b) })
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (lb *balancer) check(ctx context.Context, client *http.Client, b *backend) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.addr+nodespec.LivenessPath, nil)
	resp, err := client.Do(req)
	ok := err == nil && resp.StatusCode == http.StatusOK
	if err == nil {
		resp.Body.Close()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.successes, b.failures = b.successes+1, 0
		if b.successes >= threshold && !b.healthy.Swap(true) {
			lb.log.Info("node in service", "node", b.name)
		}
		return
	}
	b.successes, b.failures = 0, b.failures+1
	if b.failures >= threshold && b.healthy.Swap(false) {
		reason := "status"
		if err != nil {
			reason = err.Error()
		} else {
			reason = resp.Status
		}
		lb.log.Warn("node out of service", "node", b.name, "reason", reason)
	}
}

// onceBody is a request body that can be handed to a second node as long as
// the first one read none of it. Closing it is left to the server.
type onceBody struct {
	r    io.ReadCloser
	read atomic.Bool
}

func (b *onceBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.read.Store(true)
	}
	return n, err
}

func (b *onceBody) Close() error { return nil }

func (b *onceBody) started() bool { return b.read.Load() }

func (b *onceBody) again() (io.ReadCloser, error) {
	if b.started() {
		return nil, errors.New("request body already partly sent")
	}
	return b, nil
}
