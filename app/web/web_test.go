package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/anb/risingstars/app/web"
	"github.com/labstack/echo/v4"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var assetRef = regexp.MustCompile(`/static/[0-9a-f]{12}/[a-z./]+`)

func TestIndexIsServedAtRootAndAlwaysRevalidated(t *testing.T) {
	h := web.Handler()
	for _, path := range []string{"/", "/index.html"} {
		rec := get(t, h, path)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d", path, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s Content-Type = %q", path, ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s Cache-Control = %q, want no-cache", path, cc)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s Content-Security-Policy = %q", path, csp)
		}
		body := rec.Body.String()
		if !strings.Contains(body, `lang="es"`) || strings.Contains(body, "{{VERSION}}") {
			t.Errorf("GET %s: the page is not the Spanish index with versioned assets", path)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("GET %s: the page refers to another site", path)
		}
	}
}

func TestAssetsHaveTypesAndLongCachingUnderTheirVersion(t *testing.T) {
	h := web.Handler()
	index := get(t, h, "/").Body.String()
	refs := assetRef.FindAllString(index, -1)
	want := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
		".svg": "image/svg+xml",
	}
	seen := map[string]bool{}
	for _, ref := range refs {
		ext := ref[strings.LastIndex(ref, "."):]
		rec := get(t, h, ref)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d", ref, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != want[ext] {
			t.Errorf("GET %s Content-Type = %q, want %q", ref, ct, want[ext])
		}
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s Cache-Control = %q, want a long immutable cache", ref, cc)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s without nosniff", ref)
		}
		seen[ext] = true
	}
	for ext := range want {
		if !seen[ext] {
			t.Errorf("index.html refers to no %s asset (refs %v)", ext, refs)
		}
	}

	// Modules imported relatively resolve inside the same versioned folder.
	version := strings.Split(refs[0], "/")[2]
	rec := get(t, h, "/static/"+version+"/pages/gallery.js")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != want[".js"] {
		t.Errorf("GET pages/gallery.js = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

func TestAssetOfAnotherVersionIsServedButNotCachedLong(t *testing.T) {
	rec := get(t, web.Handler(), "/static/000000000000/app.js")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET = %d", rec.Code)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q, want no-cache", cc)
	}
}

func TestConditionalRequestGetsNotModified(t *testing.T) {
	h := web.Handler()
	first := get(t, h, "/")
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on /")
	}
	if rec := get(t, h, "/", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("GET / with If-None-Match = %d, want 304", rec.Code)
	}
}

func TestUnknownPathsGetAJSONNotFound(t *testing.T) {
	h := web.Handler()
	for _, path := range []string{"/nope", "/static/abc/missing.js", "/static/", "/api/unknown"} {
		rec := get(t, h, path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, rec.Code)
			continue
		}
		var body struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Message == "" {
			t.Errorf("GET %s body = %q, want a JSON message", path, rec.Body.String())
		}
	}
}

func TestOtherMethodsAreRefused(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	rec := httptest.NewRecorder()
	web.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", rec.Code)
	}
}

func TestMountServesThePageOnEcho(t *testing.T) {
	e := echo.New()
	web.Mount(e)
	index := httptest.NewRecorder()
	e.ServeHTTP(index, httptest.NewRequest(http.MethodGet, "/", nil))
	if index.Code != http.StatusOK || !strings.HasPrefix(index.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", index.Code, index.Header().Get("Content-Type"))
	}
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodHead, "/", nil),
		httptest.NewRequest(http.MethodGet, assetRef.FindString(index.Body.String()), nil),
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("%s %s = %d", req.Method, req.URL.Path, rec.Code)
		}
	}
}
