// Command app is the web tier of ANB Rising Stars: the REST API and the web
// page. In local mode (the default) it also runs the video workers in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/anb/risingstars/app/apidoc"
	"github.com/anb/risingstars/app/config"
	"github.com/anb/risingstars/app/httpapi"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/platform"
	"github.com/anb/risingstars/app/sdnotify"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/videos"
	"github.com/anb/risingstars/app/voteaudit"
	"github.com/anb/risingstars/app/web"
	"github.com/anb/risingstars/worker/processor"
	"github.com/labstack/echo/v4"
)

// A task whose send failed (queue outage, process killed right after the
// commit) is sent again within about requeueEvery once it is requeueGrace
// old; the grace keeps the loop from racing an upload still sending.
const (
	requeueEvery = 10 * time.Second
	requeueGrace = 30 * time.Second
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "audit-votes" {
		if err := auditVotes(os.Args[2:]); err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(os.Stderr, "error:", err)
				os.Exit(1)
			}
		}
		return
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(log); err != nil {
		log.Error("app stopped", "error", err)
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// auditVotes is the operator's command (app/voteaudit) on the database the
// environment names; the platform's log goes to stderr, the report to stdout.
func auditVotes(args []string) error {
	cfg, err := config.FromEnviron(os.Environ())
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := platform.Open(ctx, cfg, slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer p.Close()
	return voteaudit.Run(ctx, p.Store, args, os.Stdout)
}

// forgetAuditData enforces the retention of the votes' and signups' hashed
// addresses and user agents: at start, then every hour. Several web nodes
// doing it is harmless (the second finds nothing left).
func forgetAuditData(ctx context.Context, log *slog.Logger, st *store.Store, retention time.Duration) {
	for {
		if n, err := st.ForgetAuditData(ctx, retention); err != nil {
			log.Warn("vote audit retention: sweep failed; next try in an hour", "error", err)
		} else if n > 0 {
			log.Info("vote audit retention: old addresses and agents forgotten", "rows", n, "retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

func run(log *slog.Logger) error {
	cfg, err := config.FromEnviron(os.Environ())
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.Workers == 0 && cfg.LocalQueue() {
		log.Warn("ANB_WORKERS=0 with the in-process queue: uploads will wait until a process with workers starts")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	p, err := platform.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer p.Close()

	var background sync.WaitGroup
	if cfg.LocalQueue() {
		n, err := p.RequeuePending(ctx)
		if err != nil {
			return fmt.Errorf("re-enqueue pending videos: %w", err)
		}
		log.Info("pending videos re-enqueued", "count", n)
	} else {
		background.Go(func() { p.RequeueLost(ctx, log, requeueEvery, requeueGrace) })
	}
	if cfg.Workers > 0 {
		proc := processor.New(cfg, p.Store, p.Blobs, p.WorkDir, log.With("role", "worker"))
		background.Go(func() { proc.Run(ctx, p.Queue, cfg.Workers) })
		log.Info("in-process workers started", "count", cfg.Workers)
	}

	background.Go(func() { forgetAuditData(ctx, log, p.Store, cfg.VoteAuditRetention) })

	e := httpapi.New(httpapi.Config{
		Accounts: p.Store, Catalog: p.Store, Database: p.Store, Videos: &videos.Service{Library: p.Store, Files: p.Blobs, Queue: p.Queue, Log: log},
		Blobs: p.Blobs, Tokens: p.Tokens, Log: log,
		SpoolDir: p.SpoolDir, RankingsCacheTTL: cfg.RankingsCacheTTL,
		CORSOrigins: cfg.CORSOrigins,
		LoginThrottle: httpapi.LoginThrottle{PerAccountAddress: cfg.LoginFailuresPerAccountAddress,
			PerAddress: cfg.LoginFailuresPerAddress, PerAccount: cfg.LoginFailuresPerAccount, Window: cfg.LoginFailureWindow},
		TrustedProxies: cfg.TrustedProxies,
		SignupThrottle: httpapi.SignupThrottle{PerAddress: cfg.SignupsPerAddress, Total: cfg.SignupsTotal, Window: cfg.SignupWindow},
		VoteCounting:   cfg.VoteCounting, Mailer: p.Mailer, PublicURL: cfg.PublicURL,
		VerificationTTL: cfg.VerificationTTL, VerificationResends: cfg.VerificationResends,
		Mount: []func(*echo.Echo){web.Mount, apidoc.Register},
	})
	srv := &http.Server{Addr: cfg.Addr, Handler: e, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		stop()
		background.Wait()
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("serving", "addr", cfg.Addr, "storage", cfg.Storage, "queue", cfg.Queue, "workers", cfg.Workers)
	// systemd (Type=notify): ready once listening, with the database reached
	// and migrated; the watchdog pings while the server answers its own
	// liveness check, so a wedged server is restarted.
	notify(log, sdnotify.Ready)
	watchdog, stopWatchdog := context.WithCancel(context.Background())
	defer stopWatchdog()
	go sdnotify.RunWatchdog(watchdog, serving("http://"+loopback(ln.Addr())+nodespec.LivenessPath))

	select {
	case err := <-serveErr:
		stop()
		background.Wait()
		return fmt.Errorf("serve on %s: %w", cfg.Addr, err)
	case <-ctx.Done():
	}
	notify(log, sdnotify.Stopping)
	log.Info("shutting down: draining requests and jobs")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), nodespec.WebShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("drain requests", "error", err)
	}
	background.Wait()
	log.Info("stopped")
	return nil
}

// notify tells systemd the service's state; outside systemd it does nothing.
func notify(log *slog.Logger, state string) {
	if err := sdnotify.Notify(state); err != nil {
		log.Warn("systemd notification failed", "state", state, "error", err)
	}
}

// serving is the web node's watchdog check: the server answers its own
// liveness path, through the listener the load balancer uses.
func serving(url string) func(context.Context) bool {
	client := &http.Client{}
	return func(ctx context.Context) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// loopback is addr as this host reaches it: a wildcard listener is
// reached on the loopback address.
func loopback(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return addr.String()
}
