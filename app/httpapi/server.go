// Package httpapi is the REST API of the platform on Echo; app/apidoc/openapi.json
// is its contract.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/videos"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Accounts is what signing up and logging in need from the database,
// including the failed-login counts every web node shares.
type Accounts interface {
	CreateUser(ctx context.Context, u *store.User) error
	UserByEmail(ctx context.Context, email string) (store.User, error)
	LoginFailures(ctx context.Context, window time.Duration, limits ...store.Limit) (store.FailureState, error)
	RecordLoginFailure(ctx context.Context, window time.Duration, subjects ...string) error
	ClearLoginFailures(ctx context.Context, subjects ...string) error
	Take(ctx context.Context, subject string, max int, window time.Duration) (time.Duration, bool, error)
	UserByID(ctx context.Context, id int64) (store.User, error)
	SaveVerification(ctx context.Context, userID int64, tokenHash string, expires time.Time) error
	Verify(ctx context.Context, tokenHash string) (store.User, error)
}

// Catalog is what the read endpoints need: videos, the gallery and the
// rankings, with the totals for the paging headers. What changes a video
// goes through Videos.
type Catalog interface {
	Video(ctx context.Context, id string) (store.Video, error)
	UserVideosPage(ctx context.Context, userID int64, page, pageSize int) ([]store.Video, int64, error)
	PublicVideos(ctx context.Context, viewerID int64, page, pageSize int) ([]store.PublicVideo, error)
	CountPublicVideos(ctx context.Context) (int64, error)
	Rankings(ctx context.Context, city string, page, pageSize int) ([]store.Ranking, error)
	CountRanked(ctx context.Context, city string) (int64, error)
}

// Database is what the readiness check asks.
type Database interface {
	Ping(ctx context.Context) error
}

// Videos are the video use cases (videos.Service).
type Videos interface {
	Upload(ctx context.Context, in videos.NewUpload) (store.Video, error)
	Delete(ctx context.Context, id string, owner int64) (store.Video, error)
	Vote(ctx context.Context, b store.Ballot) (pending bool, err error)
}

// Media serves a stored file: streamed from disk, or a redirect to S3.
type Media interface {
	Serve(w http.ResponseWriter, r *http.Request, key string) error
}

// Config wires the API to its dependencies.
type Config struct {
	Accounts         Accounts
	Catalog          Catalog
	Database         Database
	Videos           Videos
	Blobs            Media
	Tokens           *auth.Tokens
	Log              *slog.Logger
	SpoolDir         string        // where uploads are staged while they are validated
	RankingsCacheTTL time.Duration // 0 disables the cache
	// CORSOrigins may call the API from a page of their own; empty: only
	// pages of this server's origin.
	CORSOrigins []string
	// LoginThrottle bounds failed logins; zero fields take the defaults.
	LoginThrottle LoginThrottle
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (see clientAddress); nil: loopback only.
	TrustedProxies []netip.Prefix
	// SignupThrottle bounds signups; zero fields take the defaults.
	SignupThrottle SignupThrottle
	// VoteCounting is the counting rule: VoteCountingAll ("" too) or
	// VoteCountingVerified.
	VoteCounting string
	// Mailer sends the verification messages.
	Mailer Mailer
	// PublicURL is the base of the links in e-mails; empty: the request's.
	PublicURL string
	// VerificationTTL and VerificationResends: zero takes the defaults.
	VerificationTTL     time.Duration
	VerificationResends int
	// Mount adds routes owned by other packages (web page, API docs).
	Mount []func(*echo.Echo)
}

type api struct {
	Config
	trusted  []netip.Prefix
	rankings *ttlCache[rankingsKey, []rankingItem]
	totals   *ttlCache[totalsKey, int64]
}

// New builds the HTTP handler of the API.
func New(cfg Config) *echo.Echo {
	a := &api{Config: cfg, rankings: newTTLCache[rankingsKey, []rankingItem](cfg.RankingsCacheTTL),
		totals: newTTLCache[totalsKey, int64](cfg.RankingsCacheTTL), trusted: cfg.TrustedProxies}
	if a.trusted == nil {
		a.trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(cfg.Log)
	e.Pre(trailingSlash())
	e.Use(middleware.RequestID())
	e.Use(requestLogger(cfg.Log))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true}))
	e.Use(cors(cfg.CORSOrigins))
	e.Use(refuseTokenInURL)
	e.Use(databaseBudget)

	e.GET(nodespec.LivenessPath, a.live)
	e.GET(nodespec.ReadinessPath, a.ready)

	api := e.Group("/api")
	api.POST("/auth/signup", a.signup)
	api.POST("/auth/login", a.login)
	api.GET("/auth/verify", a.verifyEmail)
	api.POST("/auth/verification", a.resendVerification, a.requireAuth)
	api.GET("/auth/me", a.me, a.requireAuth)

	videos := api.Group("/videos")
	videos.POST("/upload", a.upload, a.requireAuth)
	videos.GET("", a.listVideos, a.requireAuth)
	videos.GET("/:video_id", a.getVideo, a.requireAuth)
	videos.DELETE("/:video_id", a.deleteVideo, a.requireAuth)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		videos.Add(method, "/:video_id/original", a.serveOriginal, a.optionalAuth)
		videos.Add(method, "/:video_id/processed", a.serveProcessed, a.optionalAuth)
		videos.Add(method, "/:video_id/poster", a.servePoster, a.optionalAuth)
	}

	public := api.Group("/public")
	public.GET("/videos", a.publicVideos, a.optionalAuth)
	public.POST("/videos/:video_id/vote", a.vote, a.requireAuth)
	public.GET("/rankings", a.rankingsHandler)

	for _, mount := range cfg.Mount {
		mount(e)
	}
	return e
}

// live is the load balancer's health check: 200 while this process can serve
// requests. It does not ask the database: a database failover or outage
// must not make the load balancer or the Auto Scaling group drop every node
// (they would all fail at once); requests that need the database answer 503
// meanwhile, and every node recovers by itself. A node that cannot stage
// uploads (full or read-only disk) does fail it, so it is replaced.
func (a *api) live(c echo.Context) error {
	f, err := os.CreateTemp(a.SpoolDir, ".live-*")
	if err == nil {
		f.Close()
		err = os.Remove(f.Name())
	}
	if err != nil {
		a.Log.ErrorContext(c.Request().Context(), "liveness: cannot write the upload spool", "error", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{
			"status": "unavailable", "message": "El nodo no puede recibir videos.",
		})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// ready is the deep check for operators and deploys: 200 only when the
// database answers too.
func (a *api) ready(c echo.Context) error {
	ctx := c.Request().Context()
	if err := a.Database.Ping(ctx); err != nil {
		a.Log.WarnContext(ctx, "readiness: database unavailable", "error", err)
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{
			"status": "unavailable", "database": "unavailable", "message": "La base de datos no responde.",
		})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "database": "ok"})
}

func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			level := slog.LevelInfo
			if res.Status >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(req.Context(), level, "request",
				slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
				slog.String("method", req.Method),
				slog.String("path", req.URL.Path),
				slog.Int("status", res.Status),
				slog.Int64("bytes", res.Size),
				slog.Float64("ms", float64(time.Since(start).Microseconds())/1000),
			)
			return nil
		}
	}
}

// databaseBudget gives each request one database bound (ANB_DB_TIMEOUT) for
// all its operations together, so a slow or unreachable database costs a
// request at most that before its 503.
func databaseBudget(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.SetRequest(c.Request().WithContext(store.WithBudget(c.Request().Context())))
		return next(c)
	}
}
