// Package httpapi is the REST API of the platform (SPEC §1) on Echo.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/store"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Store is what the API needs from the database.
type Store interface {
	Ping(ctx context.Context) error
	CreateUser(ctx context.Context, u *store.User) error
	UserByEmail(ctx context.Context, email string) (store.User, error)
	CreateVideo(ctx context.Context, v *store.Video) error
	MarkEnqueued(ctx context.Context, id string) error
	Video(ctx context.Context, id string) (store.Video, error)
	VideosByUser(ctx context.Context, userID int64) ([]store.Video, error)
	DeleteVideo(ctx context.Context, id string, ownerID int64) (store.Video, error)
	PublicVideos(ctx context.Context, viewerID int64, page, pageSize int) ([]store.PublicVideo, error)
	Vote(ctx context.Context, userID int64, videoID string) error
	Rankings(ctx context.Context, city string, page, pageSize int) ([]store.Ranking, error)
}

// Config wires the API to its dependencies.
type Config struct {
	Store            Store
	Blobs            blob.Store
	Queue            queue.Publisher
	Tokens           *auth.Tokens
	Log              *slog.Logger
	SpoolDir         string        // where uploads are staged while they are validated
	RankingsCacheTTL time.Duration // 0 disables the cache
	// Mount adds routes owned by other packages (web page, API docs).
	Mount []func(*echo.Echo)
}

type api struct {
	Config
	rankings *ttlCache[rankingsKey, []rankingItem]
}

// New builds the HTTP handler of the API.
func New(cfg Config) *echo.Echo {
	a := &api{Config: cfg, rankings: newTTLCache[rankingsKey, []rankingItem](cfg.RankingsCacheTTL)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(cfg.Log)
	e.Use(middleware.RequestID())
	e.Use(requestLogger(cfg.Log))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true}))

	e.GET(nodespec.LivenessPath, a.live)
	e.GET(nodespec.ReadinessPath, a.ready)

	api := e.Group("/api")
	api.POST("/auth/signup", a.signup)
	api.POST("/auth/login", a.login)

	videos := api.Group("/videos")
	videos.POST("/upload", a.upload, a.requireAuth)
	videos.GET("", a.listVideos, a.requireAuth)
	videos.GET("/:video_id", a.getVideo, a.requireAuth)
	videos.DELETE("/:video_id", a.deleteVideo, a.requireAuth)
	videos.GET("/:video_id/original", a.serveOriginal, a.optionalAuth)
	videos.GET("/:video_id/processed", a.serveProcessed, a.optionalAuth)
	videos.GET("/:video_id/poster", a.servePoster, a.optionalAuth)

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
	if err := a.Store.Ping(ctx); err != nil {
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
