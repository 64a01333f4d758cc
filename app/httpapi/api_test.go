package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/mp4/mediatest"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/store/storetest"
)

func hd(t testing.TB) string {
	return mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 21})
}

func TestSignup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{noWorker: true})
		r := e.call("POST", "/api/auth/signup", "", signupBody("ana@example.com"))
		if r.status != http.StatusCreated {
			t.Fatalf("signup: %d %s", r.status, r.body)
		}
		body := r.json(t)
		if body["message"] != "Usuario creado exitosamente." || body["user_id"] == nil {
			t.Fatalf("signup body = %s", r.body)
		}

		with := func(field, value string) map[string]string {
			b := signupBody("other@example.com")
			b[field] = value
			return b
		}
		without := func(field string) map[string]string {
			b := signupBody("other@example.com")
			delete(b, field)
			return b
		}
		cases := []struct {
			name      string
			body      any
			badField  string
			inMessage string
		}{
			{"duplicate email, other case", signupBody("ANA@Example.com"), "email", "ya está registrado"},
			{"passwords differ", with("password2", "otra-clave-1"), "password2", "no coinciden"},
			{"invalid email", with("email", "ana.example.com"), "email", "no es válido"},
			{"email with display name", with("email", "Ana <ana2@example.com>"), "email", "no es válido"},
			{"missing first_name", without("first_name"), "first_name", ""},
			{"blank city", with("city", "   "), "city", ""},
			{"missing country", without("country"), "country", ""},
			{"short password", map[string]string{"first_name": "A", "last_name": "B", "email": "c@d.co",
				"password1": "corta", "password2": "corta", "city": "Cali", "country": "CO"}, "password1", "al menos 8"},
			{"malformed JSON", `{"email": `, "", "JSON"},
			{"not an object", `[1,2]`, "", "JSON"},
			{"number instead of text", `{"email": 5}`, "email", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.call("POST", "/api/auth/signup", "", c.body)
				if r.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				msg := r.message(t)
				if c.inMessage != "" && !strings.Contains(msg, c.inMessage) {
					t.Errorf("message %q does not mention %q", msg, c.inMessage)
				}
				if c.badField != "" {
					details, _ := r.json(t)["details"].(map[string]any)
					if details[c.badField] == nil {
						t.Errorf("details do not name %s: %s", c.badField, r.body)
					}
				}
			})
		}
	})
}

func TestLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{noWorker: true})
		e.call("POST", "/api/auth/signup", "", signupBody("ana@example.com"))

		r := e.call("POST", "/api/auth/login", "", map[string]string{"email": "ANA@example.com", "password": "clave-segura"})
		if r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		b := r.json(t)
		if b["token_type"] != "Bearer" || b["expires_in"] != float64(3600) || b["access_token"] == "" {
			t.Fatalf("login body = %s", r.body)
		}
		if r := e.call("GET", "/api/videos", b["access_token"].(string), nil); r.status != http.StatusOK {
			t.Fatalf("token does not authenticate: %d %s", r.status, r.body)
		}

		wrong := e.call("POST", "/api/auth/login", "", map[string]string{"email": "ana@example.com", "password": "otra-clave"})
		unknown := e.call("POST", "/api/auth/login", "", map[string]string{"email": "nadie@example.com", "password": "clave-segura"})
		if wrong.status != http.StatusUnauthorized || unknown.status != http.StatusUnauthorized {
			t.Fatalf("bad credentials: %d, %d; want 401, 401", wrong.status, unknown.status)
		}
		if string(wrong.body) != string(unknown.body) {
			t.Errorf("unknown e-mail and wrong password must answer alike: %s vs %s", wrong.body, unknown.body)
		}
		for _, body := range []any{`{"email":`, map[string]string{"email": "ana@example.com"}, `""`} {
			if r := e.call("POST", "/api/auth/login", "", body); r.status != http.StatusBadRequest {
				t.Errorf("malformed login %v: %d, want 400", body, r.status)
			} else {
				r.message(t)
			}
		}
	})
}

func TestProtectedEndpointsRefuseBadTokens(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	e := newEnv(t, db, envOptions{noWorker: true})
	good := e.user("ana@example.com", "Ana", "Cali")
	tampered := good[:len(good)-2] + "xx"
	cases := map[string]string{"missing": "", "garbage": "not-a-token", "tampered": tampered}
	for name, token := range cases {
		for _, ep := range [][2]string{{"GET", "/api/videos"}, {"GET", "/api/videos/6f1c2a3e-8a63-4c8e-9f7e-2f3b9a8c1d00"},
			{"DELETE", "/api/videos/6f1c2a3e-8a63-4c8e-9f7e-2f3b9a8c1d00"}, {"POST", "/api/public/videos/6f1c2a3e-8a63-4c8e-9f7e-2f3b9a8c1d00/vote"},
			{"POST", "/api/videos/upload"}} {
			r := e.call(ep[0], ep[1], token, nil)
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s token on %s %s: %d, want 401", name, ep[0], ep[1], r.status)
				continue
			}
			r.message(t)
		}
	}
	// An invalid token on an endpoint where auth is optional is still refused.
	if r := e.call("GET", "/api/public/videos", "not-a-token", nil); r.status != http.StatusUnauthorized {
		t.Errorf("public list with a bad token: %d, want 401", r.status)
	}
}

func TestUploadRejectsBadInputAndLeavesNothing(t *testing.T) {
	clip := hd(t)
	short := mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 10})
	long := mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 90})
	small := mediatest.Clip(t, mediatest.ClipOptions{Width: 1280, Height: 720, Seconds: 21})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	text := write("notes.mp4", []byte("this is a text file, not a video\n"))
	empty := write("empty.mp4", nil)
	whole, _ := os.ReadFile(clip)
	truncated := write("truncated.mp4", whole[:len(whole)/2])
	huge := padded(t, clip, 100<<20+1)

	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{noWorker: true})
		token := e.user("ana@example.com", "Ana", "Cali")
		title := [2]string{"title", "Mi mejor jugada"}
		cases := []struct {
			name   string
			fields [][2]string
			field  string
		}{
			{"no file", [][2]string{title}, "video_file"},
			{"text file named .mp4", [][2]string{title, {"video_file", text}}, "video_file"},
			{"truncated MP4", [][2]string{title, {"video_file", truncated}}, "video_file"},
			{"empty file", [][2]string{title, {"video_file", empty}}, "video_file"},
			{"over 100 MB", [][2]string{title, {"video_file", huge}}, "video_file"},
			{"10 s clip", [][2]string{title, {"video_file", short}}, "video_file"},
			{"90 s clip", [][2]string{title, {"video_file", long}}, "video_file"},
			{"720p clip", [][2]string{title, {"video_file", small}}, "video_file"},
			{"missing title", [][2]string{{"video_file", clip}}, "title"},
			{"blank title", [][2]string{{"title", "  "}, {"video_file", clip}}, "title"},
			{"10 KB title", [][2]string{{"title", strings.Repeat("a", 10<<10)}, {"video_file", clip}}, "title"},
			{"bad is_public", [][2]string{title, {"is_public", "maybe"}, {"video_file", clip}}, "is_public"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.upload(token, c.fields...)
				if r.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				t.Logf("message: %s", r.message(t))
				details, _ := r.json(t)["details"].(map[string]any)
				if details[c.field] == nil {
					t.Errorf("details do not name %s: %s", c.field, r.body)
				}
			})
		}
		if r := e.request("POST", "/api/videos/upload", token, "application/json", strings.NewReader(`{}`)); r.status != http.StatusBadRequest {
			t.Errorf("non-multipart upload: %d, want 400", r.status)
		}
		if list := e.call("GET", "/api/videos", token, nil).list(t); len(list) != 0 {
			t.Errorf("rejected uploads left videos: %v", list)
		}
		if files := e.files(); len(files) != 0 {
			t.Errorf("rejected uploads left files: %v", files)
		}
	})
}

func TestVideoLifecycle(t *testing.T) {
	clip := hd(t)
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{})
		ana := e.user("ana@example.com", "Ana", "Cali")
		bob := e.user("bob@example.com", "Bob", "Cali")

		r := e.upload(ana, [2]string{"video_file", clip}, [2]string{"title", "Triple"})
		if r.status != http.StatusCreated {
			t.Fatalf("upload: %d %s", r.status, r.body)
		}
		up := r.json(t)
		if up["message"] != "Video subido correctamente. Procesamiento en curso." || up["task_id"] == "" {
			t.Fatalf("upload body = %s", r.body)
		}
		public := up["video_id"].(string)
		private := e.uploadVideo(ana, clip, "Privado", false)

		v := e.waitStatus(ana, public, "processed", 30*time.Second)
		for _, f := range []string{"video_id", "title", "status", "is_public", "uploaded_at", "processed_at", "original_url", "processed_url", "votes"} {
			if v[f] == nil {
				t.Errorf("detail lacks %s: %v", f, v)
			}
		}
		if v["is_public"] != true || v["votes"] != float64(0) || v["title"] != "Triple" {
			t.Errorf("detail = %v", v)
		}
		e.waitStatus(ana, private, "processed", 30*time.Second)

		list := e.call("GET", "/api/videos", ana, nil).list(t)
		if len(list) != 2 || list[0]["video_id"] != private || list[1]["video_id"] != public {
			t.Fatalf("my videos, newest first = %v", list)
		}
		if list[0]["processed_url"] == nil || list[0]["processed_at"] == nil {
			t.Errorf("processed video lacks processed_url/processed_at: %v", list[0])
		}
		if others := e.call("GET", "/api/videos", bob, nil).list(t); len(others) != 0 {
			t.Errorf("bob sees ana's videos: %v", others)
		}

		// Access rules.
		for _, c := range []struct {
			method, path, token string
			want                int
		}{
			{"GET", "/api/videos/" + public, bob, http.StatusForbidden},
			{"GET", "/api/videos/" + public, "", http.StatusUnauthorized},
			{"GET", "/api/videos/00000000-0000-4000-8000-000000000000", ana, http.StatusNotFound},
			{"GET", "/api/videos/not-a-uuid", ana, http.StatusNotFound},
			{"DELETE", "/api/videos/" + private, bob, http.StatusForbidden},
			{"DELETE", "/api/videos/00000000-0000-4000-8000-000000000000", ana, http.StatusNotFound},
			{"DELETE", "/api/videos/" + public, ana, http.StatusBadRequest},
			{"GET", "/api/videos/" + public + "/processed", "", http.StatusOK},
			{"GET", "/api/videos/" + public + "/poster", "", http.StatusOK},
			{"GET", "/api/videos/" + public + "/original", "", http.StatusUnauthorized},
			{"GET", "/api/videos/" + public + "/original", bob, http.StatusForbidden},
			{"GET", "/api/videos/" + public + "/original", ana, http.StatusOK},
			{"GET", "/api/videos/" + private + "/processed", "", http.StatusUnauthorized},
			{"GET", "/api/videos/" + private + "/processed", bob, http.StatusForbidden},
			{"GET", "/api/videos/" + private + "/processed", ana, http.StatusOK},
			{"GET", "/api/videos/" + private + "/processed?access_token=" + ana, "", http.StatusBadRequest},
		} {
			r := e.call(c.method, c.path, c.token, nil)
			if r.status != c.want {
				t.Errorf("%s %s: %d, want %d: %.200s", c.method, c.path, r.status, c.want, r.body)
			} else if r.status >= 400 {
				r.message(t)
			}
		}

		// Range requests on the processed file.
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/videos/"+public+"/processed", nil)
		req.Header.Set("Range", "bytes=0-99")
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusPartialContent || res.ContentLength != 100 || res.Header.Get("Content-Type") != "video/mp4" {
			t.Errorf("range request: %d, %d bytes, %s", res.StatusCode, res.ContentLength, res.Header.Get("Content-Type"))
		}

		req, _ = http.NewRequest("GET", e.srv.URL+"/api/videos/"+public+"/processed", nil)
		req.Header.Set("Range", "bytes=999999999-")
		res, err = e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestedRangeNotSatisfiable || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("unsatisfiable range: %d %s, want 416 JSON", res.StatusCode, res.Header.Get("Content-Type"))
		}

		// Deleting an unpublished video removes the row and every file.
		r = e.call("DELETE", "/api/videos/"+private, ana, nil)
		if r.status != http.StatusOK || r.json(t)["message"] != "El video ha sido eliminado exitosamente." || r.json(t)["video_id"] != private {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if r := e.call("GET", "/api/videos/"+private, ana, nil); r.status != http.StatusNotFound {
			t.Errorf("deleted video still answers %d", r.status)
		}
		for _, f := range e.files() {
			if strings.Contains(f, private) {
				t.Errorf("file of deleted video left: %s", f)
			}
		}
		if files := e.files(); len(files) != 3 {
			t.Errorf("storage should hold the published video's 3 files: %v", files)
		}
	})
}

func TestWorkerFailureIsReportedToTheOwner(t *testing.T) {
	clip := hd(t)
	db := storetest.Open(t, "sqlite")
	media := &failingMedia{}
	e := newEnv(t, db, envOptions{media: media})
	ana := e.user("ana@example.com", "Ana", "Cali")
	id := e.uploadVideo(ana, clip, "Roto", true)
	v := e.waitStatus(ana, id, "failed", 30*time.Second)
	if msg, _ := v["error"].(string); !strings.Contains(msg, "Invalid data") {
		t.Errorf("failed video should say why: %v", v)
	}
	if runs := media.runs.Load(); runs != 3 {
		t.Errorf("pipeline ran %d times, want 3 attempts", runs)
	}
	if v["processed_url"] != nil {
		t.Errorf("failed video has a processed_url: %v", v)
	}
}

// storageDown fails every write, as S3 does during an outage.
type storageDown struct{ blob.Store }

func (storageDown) PutFile(context.Context, string, string) error {
	return errors.New("operation error S3: PutObject, dial tcp 127.0.0.1:9000: connect: connection refused")
}

func TestUploadDuringAStorageOutageAnswers503AndLeavesNothing(t *testing.T) {
	clip := hd(t)
	db := storetest.Open(t, "sqlite")
	e := newEnv(t, db, envOptions{noWorker: true, storage: func(b blob.Store) blob.Store { return storageDown{b} }})
	token := e.user("ana@example.com", "Ana", "Cali")
	r := e.upload(token, [2]string{"title", "Durante la caída"}, [2]string{"video_file", clip})
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != outageRetryAfter {
		t.Fatalf("upload with storage down: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	r.message(t)
	if list := e.call("GET", "/api/videos", token, nil); strings.TrimSpace(string(list.body)) != "[]" {
		t.Errorf("a row was left: %s", list.body)
	}
	if files := e.files(); len(files) != 0 {
		t.Errorf("files left behind: %v", files)
	}
}

func TestLivenessIgnoresTheDatabaseAndReadinessDoesNot(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	e := newEnv(t, db, envOptions{noWorker: true})
	for _, path := range []string{nodespec.LivenessPath, nodespec.ReadinessPath} {
		if r := e.call("GET", path, "", nil); r.status != http.StatusOK || r.json(t)["status"] != "ok" {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
	db.Store.Close()
	if r := e.call("GET", nodespec.LivenessPath, "", nil); r.status != http.StatusOK {
		t.Fatalf("liveness with the database down: %d %s (the load balancer would drop every node)", r.status, r.body)
	}
	r := e.call("GET", nodespec.ReadinessPath, "", nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != outageRetryAfter {
		t.Fatalf("readiness with the database down: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	r.message(t)
}

func TestLivenessFailsWhenUploadsCannotBeStaged(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	e := newEnv(t, db, envOptions{noWorker: true})
	if err := os.RemoveAll(e.spoolDir); err != nil {
		t.Fatal(err)
	}
	r := e.call("GET", nodespec.LivenessPath, "", nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("liveness without a spool directory: %d %s", r.status, r.body)
	}
	r.message(t)
}

// During a database outage every request that needs the database gets a
// fast 503 in Spanish with Retry-After (never 500, never a hang), and the
// API recovers by itself when the database returns.
func TestADatabaseOutageAnswers503AndRecovers(t *testing.T) {
	db, link := storetest.OpenPostgresBehindLink(t)
	db.Store.SetTimeout(500 * time.Millisecond)
	e := newEnv(t, db, envOptions{noWorker: true})
	ana := e.user("ana@example.com", "Ana", "Cali")
	for _, fault := range []struct {
		name   string
		inject func()
	}{{"cut", link.Cut}, {"hang", func() { link.Hang(t) }}} {
		t.Run(fault.name, func(t *testing.T) {
			fault.inject()
			for _, c := range []struct {
				method, path, token string
				body                any
			}{
				{"GET", "/api/videos", ana, nil},
				{"GET", "/api/public/rankings", "", nil},
				{"GET", "/api/public/videos", "", nil},
				{"POST", "/api/auth/login", "", map[string]string{"email": "ana@example.com", "password": "clave-segura"}},
			} {
				start := time.Now()
				r := e.call(c.method, c.path, c.token, c.body)
				if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != outageRetryAfter {
					t.Errorf("%s %s during a %s: %d %s (Retry-After %q)", c.method, c.path, fault.name, r.status, r.body, r.header.Get("Retry-After"))
				}
				r.message(t)
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("%s %s took %s during a %s", c.method, c.path, took, fault.name)
				}
			}
			if r := e.call("GET", nodespec.LivenessPath, "", nil); r.status != http.StatusOK {
				t.Errorf("liveness during a %s: %d", fault.name, r.status)
			}
			link.Restore(t)
			deadline := time.Now().Add(10 * time.Second)
			for e.call("GET", "/api/videos", ana, nil).status != http.StatusOK {
				if time.Now().After(deadline) {
					t.Fatalf("API did not recover within 10 s of the end of the %s", fault.name)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	e := newEnv(t, db, envOptions{noWorker: true})
	e.client = &http.Client{} // these routes are deliberately outside the contract
	for _, c := range [][2]string{{"GET", "/api/nothing"}, {"PUT", "/api/auth/login"}} {
		r := e.call(c[0], c[1], "", nil)
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d", c[0], c[1], r.status)
		}
		r.message(t)
	}
}
