// Package web holds the page that players and voters use: plain HTML, CSS and
// JavaScript modules embedded in the binary, so the API server (locally and
// behind the ALB) serves it with nothing fetched from the internet.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/anb/risingstars/app/httpapi"
	"github.com/labstack/echo/v4"
)

//go:embed static
var static embed.FS

// versionPlaceholder in index.html is replaced by a hash of all the assets.
// The assets are then served under /static/{version}/..., so a browser may
// cache them for a year: a new build changes every asset URL. Relative module
// imports (./api.js) resolve inside the same versioned folder on their own.
const versionPlaceholder = "{{VERSION}}"

// contentSecurityPolicy keeps the page self-contained. Media may redirect to
// presigned S3 URLs on AWS, hence https: for media and images.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: https:; media-src 'self' https:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

type handler struct {
	version string
	index   asset
	assets  map[string]asset // by path below static/, e.g. "app.js"
}

// Handler serves the page: index.html at "/" (and "/index.html") and the
// assets under "/static/". Any other path gets a JSON 404 like the API's.
// Mount it for GET and HEAD on "/" and "/static/*".
func Handler() http.Handler {
	h, err := newHandler(static)
	if err != nil {
		// The files are embedded at build time; a failure here is a build bug.
		panic(fmt.Errorf("web: %w", err))
	}
	return h
}

// Mount registers the page on the Echo router of the API (GET and HEAD of
// "/", "/index.html" and "/static/*"); every other path stays with the API.
func Mount(e *echo.Echo) {
	h := echo.WrapHandler(Handler())
	for _, path := range []string{"/", "/index.html", "/static/*"} {
		e.GET(path, h)
		e.HEAD(path, h)
	}
}

func newHandler(fsys fs.FS) (*handler, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, err
	}
	h := &handler{assets: map[string]asset{}}
	var names []string
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		h.assets[p] = newAsset(p, body)
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	sum := sha256.New()
	for _, n := range names {
		fmt.Fprintf(sum, "%s\x00%s\x00", n, h.assets[n].etag)
	}
	h.version = hex.EncodeToString(sum.Sum(nil))[:12]

	idx, ok := h.assets["index.html"]
	if !ok {
		return nil, fmt.Errorf("static/index.html is missing")
	}
	delete(h.assets, "index.html")
	h.index = newAsset("index.html", bytes.ReplaceAll(idx.body, []byte(versionPlaceholder), []byte(h.version)))
	return h, nil
}

func newAsset(name string, body []byte) asset {
	sum := sha256.Sum256(body)
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = http.DetectContentType(body)
	}
	return asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:])[:20] + `"`}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpapi.WriteStatus(w, http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/" || p == "/index.html":
		// The page itself must always be revalidated so a deploy shows at once.
		h.serve(w, r, h.index, "no-cache")
	case strings.HasPrefix(p, "/static/"):
		version, name, _ := strings.Cut(strings.TrimPrefix(p, "/static/"), "/")
		a, ok := h.assets[name]
		if !ok {
			httpapi.WriteStatus(w, http.StatusNotFound)
			return
		}
		cache := "public, max-age=31536000, immutable"
		if version != h.version {
			// During a rolling deploy a page of another build may ask this
			// instance; answer with what we have, but never cache it long.
			cache = "no-cache"
		}
		h.serve(w, r, a, cache)
	default:
		httpapi.WriteStatus(w, http.StatusNotFound)
	}
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, a asset, cacheControl string) {
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", cacheControl)
	hd.Set("ETag", a.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(a.contentType, "text/html") {
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
	}
	// The ETag answers conditional requests; a zero time sends no Last-Modified.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
