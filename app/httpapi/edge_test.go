package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/httpapi"
	"github.com/anb/risingstars/app/store/storetest"
)

// plain sends a request outside the contract validator (trailing slashes,
// CORS preflights and the like are not operations of the document) and
// never follows redirects.
func (e *env) plain(method, path string, header http.Header, body string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func TestEveryRouteAnswersTheSameWithATrailingSlash(t *testing.T) {
	clip := hd(t)
	db := storetest.Open(t, "sqlite")
	e := newEnv(t, db, envOptions{})
	ana := e.user("ana@example.com", "Ana", "Cali")
	id := e.uploadVideo(ana, clip, "Clavada", true)
	e.waitStatus(ana, id, "processed", 30*time.Second)
	doomed := e.uploadVideo(ana, clip, "Borrar", false)
	e.waitStatus(ana, doomed, "processed", 30*time.Second)

	json := http.Header{"Content-Type": {"application/json"}}
	signup := `{"first_name":"Bob","last_name":"Gil","email":"bob@example.com","password1":"clave-segura","password2":"clave-segura","city":"Cali","country":"Colombia"}`
	for _, c := range []struct {
		method, path string
		header       http.Header
		body         string
		want         int
	}{
		{"POST", "/api/auth/signup/", json, signup, http.StatusCreated},
		// The POST body arrives: a redirect would have lost it.
		{"POST", "/api/auth/login/", json, `{"email":"bob@example.com","password":"clave-segura"}`, http.StatusOK},
		{"GET", "/api/videos/", bearerHeader(ana), "", http.StatusOK},
		{"GET", "/api/videos/", nil, "", http.StatusUnauthorized},
		{"GET", "/api/videos/" + id + "/", bearerHeader(ana), "", http.StatusOK},
		{"GET", "/api/videos/" + id + "/processed/", nil, "", http.StatusOK},
		{"HEAD", "/api/videos/" + id + "/poster/", nil, "", http.StatusOK},
		{"GET", "/api/public/videos/", nil, "", http.StatusOK},
		{"GET", "/api/public/rankings/?city=cali", nil, "", http.StatusOK},
		{"POST", "/api/public/videos/" + id + "/vote/", bearerHeader(ana), "", http.StatusOK},
		{"DELETE", "/api/videos/" + doomed + "/", bearerHeader(ana), "", http.StatusOK},
		{"GET", "/health/", nil, "", http.StatusOK},
		{"GET", "/api/nothing/", nil, "", http.StatusNotFound},
	} {
		r := e.plain(c.method, c.path, c.header, c.body)
		if r.status != c.want {
			t.Errorf("%s %s: %d, want %d: %.200s", c.method, c.path, r.status, c.want, r.body)
		}
		if r.status >= 400 && c.method != "HEAD" {
			r.message(t)
		}
	}
}

func TestCORS(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	const front = "http://localhost:5173"
	preflight := func(origin, method, headers string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {method}, "Access-Control-Request-Headers": {headers}}
	}

	t.Run("listed origin", func(t *testing.T) {
		e := newEnv(t, db, envOptions{noWorker: true, cors: []string{front, "https://anb.example"}})
		ana := e.user("ana@example.com", "Ana", "Cali")
		for _, path := range []string{"/api/videos", "/api/auth/login", "/api/public/videos/00000000-0000-4000-8000-000000000000/vote"} {
			r := e.plain("OPTIONS", path, preflight(front, "POST", "authorization,content-type"), "")
			if r.status != http.StatusNoContent && r.status != http.StatusOK {
				t.Fatalf("preflight of %s: %d %s", path, r.status, r.body)
			}
			h := r.header
			if h.Get("Access-Control-Allow-Origin") != front || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
				!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") ||
				!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") || h.Get("Access-Control-Max-Age") == "" {
				t.Errorf("preflight of %s: headers %v", path, h)
			}
			if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Errorf("preflight of %s does not vary by Origin: %v", path, h)
			}
		}
		// The actual request: the page may read the body and the paging headers.
		h := bearerHeader(ana)
		h.Set("Origin", front)
		r := e.plain("GET", "/api/videos", h, "")
		if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != front ||
			!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Total-Count") ||
			!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Link") {
			t.Errorf("actual GET: %d %v", r.status, r.header)
		}
		if r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("credentials allowed: tokens travel in a header, cookies are not needed")
		}
		// Errors too, or the page could not show the message.
		r = e.plain("GET", "/api/videos", http.Header{"Origin": {front}}, "")
		if r.status != http.StatusUnauthorized || r.header.Get("Access-Control-Allow-Origin") != front {
			t.Errorf("401 for a listed origin: %d %v", r.status, r.header)
		}
		r.message(t)
		// Another origin gets nothing it could use.
		r = e.plain("OPTIONS", "/api/videos", preflight("http://evil.example", "GET", "authorization"), "")
		if r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight of an unlisted origin: %d %v", r.status, r.header)
		}
		r.message(t)
		if r := e.plain("GET", "/api/public/rankings", http.Header{"Origin": {"http://evil.example"}}, ""); r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("unlisted origin allowed to read: %v", r.header)
		}
		// A preflight with a trailing slash is answered like any request.
		if r := e.plain("OPTIONS", "/api/videos/", preflight(front, "GET", "authorization"), ""); r.header.Get("Access-Control-Allow-Origin") != front {
			t.Errorf("preflight with a trailing slash: %d %v", r.status, r.header)
		}
	})

	t.Run("default: same origin only", func(t *testing.T) {
		e := newEnv(t, db, envOptions{noWorker: true})
		r := e.plain("OPTIONS", "/api/videos", preflight(front, "GET", "authorization"), "")
		if r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight with no origin configured: %d %v", r.status, r.header)
		}
		if msg := r.message(t); !strings.Contains(msg, "origen") {
			t.Errorf("message %q", msg)
		}
		if r := e.plain("GET", "/api/public/videos", http.Header{"Origin": {front}}, ""); r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("cross-origin GET with no origin configured: %d %v", r.status, r.header)
		}
	})

	t.Run("any origin", func(t *testing.T) {
		e := newEnv(t, db, envOptions{noWorker: true, cors: []string{"*"}})
		r := e.plain("OPTIONS", "/api/public/rankings", preflight("https://x.example", "GET", "authorization"), "")
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://x.example" {
			t.Errorf("preflight with *: %d %v", r.status, r.header)
		}
	})
}

func TestRankingsCityIgnoresCaseAndAccents(t *testing.T) {
	clip := hd(t)
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{})
		var ids []string
		for i, city := range []string{"Bogotá", "BOGOTA", "  bogotá ", "Medellín", "São Paulo"} {
			token := e.user(fmt.Sprintf("p%d@example.com", i), fmt.Sprintf("P%d", i), city)
			id := e.uploadVideo(token, clip, "Jugada", true)
			e.waitStatus(token, id, "processed", 30*time.Second)
			ids = append(ids, id)
		}
		for _, c := range []struct {
			city string
			want int
		}{
			{"Bogota", 3}, {"bogotá", 3}, {"BOGOTÁ", 3}, {"  Bogotá  ", 3}, {"Bogota\u0301", 3}, // last: decomposed accent
			{"medellin", 1}, {"MEDELLÍN", 1}, {"sao paulo", 1}, {"SÃO  PAULO", 1}, {"Cali", 0},
		} {
			r := e.call("GET", "/api/public/rankings?city="+url.QueryEscape(c.city), "", nil)
			if got := len(r.list(t)); r.status != http.StatusOK || got != c.want {
				t.Errorf("city=%q: %d players (status %d), want %d", c.city, got, r.status, c.want)
			}
			if r.header.Get("X-Total-Count") != strconv.Itoa(c.want) {
				t.Errorf("city=%q: X-Total-Count %q, want %d", c.city, r.header.Get("X-Total-Count"), c.want)
			}
		}
		// The city shown is the one each player typed.
		for _, item := range e.call("GET", "/api/public/rankings?city=bogota", "", nil).list(t) {
			if item["city"] != "Bogotá" && item["city"] != "BOGOTA" && item["city"] != "bogotá" {
				t.Errorf("city shown as %q", item["city"])
			}
		}
	})
}

// links parses a Link header into rel → URL.
func links(t *testing.T, h http.Header) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, part := range strings.Split(h.Get("Link"), ",") {
		target, rel, ok := strings.Cut(strings.TrimSpace(part), ">; rel=")
		if !ok || !strings.HasPrefix(target, "<") {
			t.Fatalf("malformed Link header %q", h.Get("Link"))
		}
		out[strings.Trim(rel, `"`)] = strings.TrimPrefix(target, "<")
	}
	return out
}

func TestListsSendPagingHeaders(t *testing.T) {
	clip := hd(t)
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{})
		ana := e.user("ana@example.com", "Ana", "Cali")
		bob := e.user("bob@example.com", "Bob", "Cali")
		for i := range 3 {
			e.waitStatus(ana, e.uploadVideo(ana, clip, fmt.Sprint("Jugada ", i), true), "processed", 30*time.Second)
		}
		e.waitStatus(bob, e.uploadVideo(bob, clip, "Bob", true), "processed", 30*time.Second)

		for _, c := range []struct {
			path            string
			token           string
			total           int
			items           int
			first, prev     string
			next, last      string
			nextFollowsHere bool
		}{
			{"/api/public/videos?page=2&page_size=1", "", 4, 1, "page=1", "page=1", "page=3", "page=4", true},
			{"/api/public/videos?page_size=3", "", 4, 3, "page=1", "", "page=2", "page=2", true},
			{"/api/public/rankings?city=Cali&page_size=1", "", 2, 1, "page=1", "", "page=2", "page=2", true},
			{"/api/public/rankings?page=2&page_size=1", "", 2, 1, "page=1", "page=1", "", "page=2", false},
			{"/api/videos?page=1&page_size=2", ana, 3, 2, "page=1", "", "page=2", "page=2", true},
			{"/api/videos", ana, 3, 3, "page=1", "", "", "page=1", false},
			{"/api/public/videos?page=9&page_size=2", "", 4, 0, "page=1", "page=2", "", "page=2", false},
		} {
			r := e.call("GET", c.path, c.token, nil)
			if r.status != http.StatusOK || len(r.list(t)) != c.items || r.header.Get("X-Total-Count") != strconv.Itoa(c.total) {
				t.Errorf("%s: %d, %d items, X-Total-Count %q; want %d items of %d", c.path, r.status, len(r.list(t)), r.header.Get("X-Total-Count"), c.items, c.total)
				continue
			}
			l := links(t, r.header)
			for rel, want := range map[string]string{"first": c.first, "prev": c.prev, "next": c.next, "last": c.last} {
				got, ok := l[rel]
				if want == "" {
					if ok {
						t.Errorf("%s: rel=%s %q, want none", c.path, rel, got)
					}
					continue
				}
				if !strings.Contains(got, want) {
					t.Errorf("%s: rel=%s %q, want %s", c.path, rel, got, want)
				}
			}
			if strings.Contains(c.path, "city=") && !strings.Contains(l["first"], "city=Cali") {
				t.Errorf("%s: links drop the filter: %v", c.path, l)
			}
			// The next link is a working request of the same list.
			if c.nextFollowsHere {
				if n := e.call("GET", l["next"], c.token, nil); n.status != http.StatusOK || len(n.list(t)) == 0 {
					t.Errorf("%s: next %s gave %d %s", c.path, l["next"], n.status, n.body)
				}
			}
		}
	})
}

func TestHeadOnMediaAnswersAsGetWithoutBody(t *testing.T) {
	clip := hd(t)
	db := storetest.Open(t, "sqlite")
	e := newEnv(t, db, envOptions{})
	ana := e.user("ana@example.com", "Ana", "Cali")
	public := e.uploadVideo(ana, clip, "Pública", true)
	private := e.uploadVideo(ana, clip, "Privada", false)
	e.waitStatus(ana, public, "processed", 30*time.Second)
	e.waitStatus(ana, private, "processed", 30*time.Second)
	for _, c := range []struct{ path, token string }{
		{"/api/videos/" + public + "/processed", ""},
		{"/api/videos/" + public + "/poster", ""},
		{"/api/videos/" + public + "/original", ana},
		{"/api/videos/" + private + "/processed", ""},
		{"/api/videos/" + private + "/processed", ana},
		{"/api/videos/00000000-0000-4000-8000-000000000000/processed", ""},
	} {
		get := e.call("GET", c.path, c.token, nil)
		head := e.call("HEAD", c.path, c.token, nil)
		if head.status != get.status || len(head.body) != 0 || head.header.Get("Content-Type") != get.header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q (%d body bytes); GET: %d %q", c.path, head.status, head.header.Get("Content-Type"), len(head.body), get.status, get.header.Get("Content-Type"))
		}
		if get.status == http.StatusOK && head.header.Get("Content-Length") != strconv.Itoa(len(get.body)) {
			t.Errorf("HEAD %s: Content-Length %q, GET sent %d bytes", c.path, head.header.Get("Content-Length"), len(get.body))
		}
	}
}

func TestQuickTimeIsRefusedWithAHowTo(t *testing.T) {
	clip := hd(t)
	b, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[8:12], "qt  ") // what ffmpeg or an iPhone write as the major brand of a .mov
	mov := filepath.Join(t.TempDir(), "jugada.mp4")
	if err := os.WriteFile(mov, b, 0o644); err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, "sqlite")
	e := newEnv(t, db, envOptions{noWorker: true})
	ana := e.user("ana@example.com", "Ana", "Cali")
	r := e.upload(ana, [2]string{"title", "Desde el iPhone"}, [2]string{"video_file", mov})
	if r.status != http.StatusBadRequest {
		t.Fatalf("QuickTime upload: %d %s", r.status, r.body)
	}
	msg := r.message(t)
	for _, want := range []string{"QuickTime", ".mov", "MP4", "convi"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if files := e.files(); len(files) != 0 {
		t.Errorf("a refused upload left files: %v", files)
	}
}

func TestSignedMediaLinks(t *testing.T) {
	clip := hd(t)
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{})
		ana := e.user("ana@example.com", "Ana", "Cali")
		bob := e.user("bob@example.com", "Bob", "Cali")
		private := e.uploadVideo(ana, clip, "Privada", false)
		other := e.uploadVideo(ana, clip, "Otra", false)
		v := e.waitStatus(ana, private, "processed", 30*time.Second)
		e.waitStatus(ana, other, "processed", 30*time.Second)
		processed, _ := v["processed_url"].(string)
		poster, _ := v["poster_url"].(string)
		original, _ := v["original_url"].(string)
		for _, link := range []string{processed, poster, original} {
			if !strings.Contains(link, "signature=") || !strings.Contains(link, "expires=") || strings.Contains(link, ana) {
				t.Fatalf("media link %q: want a signed link without the token", link)
			}
			// No token needed, and another user's token does not matter.
			if r := e.call("GET", link, "", nil); r.status != http.StatusOK {
				t.Errorf("signed link %s: %d %s", link, r.status, r.body)
			}
			if r := e.call("GET", link, bob, nil); r.status != http.StatusOK {
				t.Errorf("signed link %s with another user's token: %d", link, r.status)
			}
		}
		list := e.call("GET", "/api/videos", ana, nil).list(t)
		for _, item := range list {
			if u, _ := item["processed_url"].(string); !strings.Contains(u, "signature=") {
				t.Errorf("list item without a signed link: %v", item)
			}
		}
		// The same link for a while: the page's refresh must not restart a playing video.
		if again := e.call("GET", "/api/videos/"+private, ana, nil).json(t)["processed_url"]; again != processed {
			t.Errorf("link changed between two reads: %q, %q", processed, again)
		}

		u, _ := url.Parse(processed)
		q := u.Query()
		expires, _ := strconv.ParseInt(q.Get("expires"), 10, 64)
		if left := time.Until(time.Unix(expires, 0)); left < 9*time.Minute || left > 15*time.Minute {
			t.Errorf("link valid for %s, want 10–15 minutes", left)
		}
		forged := func(id, kind string, expires int64, sig string) string {
			return "/api/videos/" + id + "/" + kind + "?" + url.Values{"expires": {strconv.FormatInt(expires, 10)}, "signature": {sig}}.Encode()
		}
		sig := q.Get("signature")
		for name, link := range map[string]string{
			"other kind":        forged(private, "original", expires, sig),
			"other video":       forged(other, "processed", expires, sig),
			"later expiry":      forged(private, "processed", expires+60, sig),
			"altered signature": forged(private, "processed", expires, strings.ToUpper(sig[:4])+sig[4:]+"x"),
			"no expiry":         "/api/videos/" + private + "/processed?signature=" + sig,
			"far future":        forged(private, "processed", time.Now().Add(24*time.Hour).Unix(), sig),
		} {
			r := e.call("GET", link, "", nil)
			if r.status != http.StatusForbidden {
				t.Errorf("%s: %d, want 403: %s", name, r.status, r.body)
				continue
			}
			if msg := r.message(t); !strings.Contains(msg, "enlace") {
				t.Errorf("%s: message %q", name, msg)
			}
		}
		// An expired link, signed with the server key, is refused too.
		expired := time.Now().Add(-time.Minute).Unix()
		mac := signLink(private, "processed", expired)
		if r := e.call("GET", forged(private, "processed", expired, mac), "", nil); r.status != http.StatusForbidden {
			t.Errorf("expired link: %d, want 403", r.status)
		}
		if r := e.call("GET", forged(private, "processed", expires, signLink(private, "processed", expires)), "", nil); r.status != http.StatusOK {
			t.Errorf("the test's own signature does not match the server's: %d", r.status)
		}
		// Without a link the old rules hold.
		if r := e.call("GET", "/api/videos/"+private+"/processed", "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("no link, no token: %d, want 401", r.status)
		}
		// And a token in the URL is refused everywhere, not just ignored.
		for _, path := range []string{"/api/videos/" + private + "/processed?access_token=" + ana, "/api/public/videos?access_token=" + ana, "/api/videos?access_token=" + ana} {
			r := e.call("GET", path, "", nil)
			if r.status != http.StatusBadRequest || !strings.Contains(r.message(t), "URL") {
				t.Errorf("%s: %d %s, want 400", path, r.status, r.body)
			}
		}
	})
}

// signLink signs a media link as the server does, with the suite's secret.
func signLink(id, kind string, expires int64) string {
	return httpapi.MediaSignatureForTest(auth.NewTokens([]byte(testSecret), time.Hour), id, kind, expires)
}
