package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/httpapi"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/videos"
	"github.com/google/uuid"
)

// These tests run the router, binding and error mapping alone: the use
// cases and the database are fakes, so they need no database and no ffmpeg.

// fakeStore answers the reads; a method a test does not set panics, which
// the API turns into a 500 the test would notice.
type fakeStore struct {
	httpapi.Accounts
	httpapi.Catalog
	video    store.Video
	videoErr error
	pingErr  error
}

func (f *fakeStore) Ping(context.Context) error { return f.pingErr }
func (f *fakeStore) Video(context.Context, string) (store.Video, error) {
	return f.video, f.videoErr
}

// fakeVideos returns what the test asks of each use case.
type fakeVideos struct{ err error }

func (f *fakeVideos) Upload(context.Context, videos.NewUpload) (store.Video, error) {
	return store.Video{}, f.err
}
func (f *fakeVideos) Delete(_ context.Context, id string, _ int64) (store.Video, error) {
	return store.Video{ID: id}, f.err
}
func (f *fakeVideos) Vote(context.Context, store.Ballot) (bool, error) { return false, f.err }

func fastAPI(t *testing.T, st *fakeStore, uc *fakeVideos) (*httptest.Server, string) {
	t.Helper()
	tokens := auth.NewTokens([]byte(testSecret), time.Hour)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Accounts: st, Catalog: st, Database: st, Videos: uc, Tokens: tokens,
		Log: suiteLog(t), SpoolDir: t.TempDir()}))
	t.Cleanup(srv.Close)
	token, err := tokens.Issue(7)
	if err != nil {
		t.Fatal(err)
	}
	return srv, token
}

// outageRetryAfter is the wait every outage 503 asks for, as the README
// states it: long enough not to hammer a recovering database, short enough
// for a blip.
const outageRetryAfter = "5"

func TestUseCaseErrorsMapToTheContract(t *testing.T) {
	id := uuid.NewString()
	cases := []struct {
		name, method, path string
		err                error
		status             int
		message            string
	}{
		{"delete unknown", "DELETE", "/api/videos/" + id, store.ErrNotFound, 404, "El video no existe."},
		{"delete another's", "DELETE", "/api/videos/" + id, store.ErrForbidden, 403, "No tienes permiso para acceder a este video."},
		{"delete published", "DELETE", "/api/videos/" + id, store.ErrPublished, 400, "El video ya está publicado para votación y no puede eliminarse."},
		{"delete during an outage", "DELETE", "/api/videos/" + id, fmt.Errorf("delete: %w", store.ErrUnavailable), 503, "El servicio no está disponible en este momento. Inténtalo de nuevo en unos segundos."},
		{"delete fine", "DELETE", "/api/videos/" + id, nil, 200, "El video ha sido eliminado exitosamente."},
		{"vote twice", "POST", "/api/public/videos/" + id + "/vote", store.ErrAlreadyVoted, 400, "Ya has votado por este video."},
		{"vote private", "POST", "/api/public/videos/" + id + "/vote", store.ErrNotFound, 404, "El video no existe."},
		{"vote fine", "POST", "/api/public/videos/" + id + "/vote", nil, 200, "Voto registrado exitosamente."},
		{"vote on a malformed id", "POST", "/api/public/videos/not-a-uuid/vote", nil, 404, "El video no existe."},
		{"unexpected failure", "POST", "/api/public/videos/" + id + "/vote", errors.New("boom"), 500, "Error interno del servidor."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, token := fastAPI(t, &fakeStore{}, &fakeVideos{err: c.err})
			res := do(t, srv, c.method, c.path, token, "")
			if res.status != c.status || res.message != c.message {
				t.Fatalf("%s %s = %d %q, want %d %q", c.method, c.path, res.status, res.message, c.status, c.message)
			}
			if got := res.header.Get("Retry-After"); c.status == 503 && got != outageRetryAfter {
				t.Errorf("503 with Retry-After %q, want %q", got, outageRetryAfter)
			}
		})
	}
}

func TestRoutingAndBindingAnswerJSON(t *testing.T) {
	cases := []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"no token", "GET", "/api/videos", "", "", 401},
		{"bad token", "GET", "/api/videos", "not-a-jwt", "", 401},
		{"unknown route", "GET", "/api/nothing", "", "", 404},
		{"wrong method", "PUT", "/api/auth/login", "", "{}", 405},
		{"malformed JSON", "POST", "/api/auth/signup", "", "{", 400},
		{"two JSON objects", "POST", "/api/auth/login", "", `{"email":"a@b.co","password":"x"}{}`, 400},
		{"login without password", "POST", "/api/auth/login", "", `{"email":"a@b.co"}`, 400},
		{"upload not multipart", "POST", "/api/videos/upload", "token", `{"title":"x"}`, 400},
		{"bad paging", "GET", "/api/public/rankings?page=0", "", "", 400},
		{"unknown parameter", "GET", "/api/public/rankings?size=3", "", "", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, token := fastAPI(t, &fakeStore{}, &fakeVideos{})
			if c.token == "token" {
				c.token = token
			}
			res := do(t, srv, c.method, c.path, c.token, c.body)
			if res.status != c.status || res.message == "" {
				t.Fatalf("%s %s = %d %q, want %d with a message", c.method, c.path, res.status, res.message, c.status)
			}
		})
	}
}

func TestGetVideoOfAnotherUserIsForbidden(t *testing.T) {
	srv, token := fastAPI(t, &fakeStore{video: store.Video{ID: uuid.NewString(), UserID: 99}}, &fakeVideos{})
	if res := do(t, srv, "GET", "/api/videos/"+uuid.NewString(), token, ""); res.status != 403 {
		t.Fatalf("another user's video: %d %q", res.status, res.message)
	}
}

type fastResponse struct {
	status  int
	header  http.Header
	message string
}

func do(t *testing.T, srv *httptest.Server, method, path, token, body string) fastResponse {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Message string }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return fastResponse{status: res.StatusCode, header: res.Header, message: out.Message}
}

// PostgreSQL refuses NUL and invalid UTF-8 in text: such input is the
// client's mistake (400), never a database error (500).
func TestTextTheDatabaseCannotStoreIsRefused(t *testing.T) {
	srv, token := fastAPI(t, &fakeStore{}, &fakeVideos{})
	for _, c := range []struct{ path, body string }{
		{"/api/auth/signup", `{"first_name":"Ana\u0000","last_name":"Pérez","email":"ana@example.com","password1":"clave-segura","password2":"clave-segura","city":"Cali","country":"CO"}`},
		{"/api/auth/login", `{"email":"ana@example.com\u0000","password":"clave-segura"}`},
	} {
		if res := do(t, srv, "POST", c.path, "", c.body); res.status != http.StatusBadRequest || res.message == "" {
			t.Errorf("POST %s with a NUL: %d %q", c.path, res.status, res.message)
		}
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("title", "Mi jugada \xff\xfe")
	mw.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/api/videos/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Details map[string]string }
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != http.StatusBadRequest || out.Details["title"] == "" {
		t.Fatalf("upload with an invalid UTF-8 title: %d %v", res.StatusCode, out.Details)
	}
}

// Every unknown query parameter is named, in the same order every time
// (map iteration alone would pick one at random).
func TestUnknownQueryParametersAreAllNamedInAStableOrder(t *testing.T) {
	srv, _ := fastAPI(t, &fakeStore{}, &fakeVideos{})
	const want = "Parámetros desconocidos: from, to, zz. Se admiten: city, page, page_size."
	for range 20 {
		res := do(t, srv, "GET", "/api/public/rankings?zz=1&to=3&from=5&page=1", "", "")
		if res.status != http.StatusBadRequest || res.message != want {
			t.Fatalf("rankings with three unknown parameters = %d %q, want 400 %q", res.status, res.message, want)
		}
	}
	if res := do(t, srv, "GET", "/api/public/videos?size=3", "", ""); res.message != "Parámetro desconocido: size. Se admiten: page, page_size." {
		t.Fatalf("one unknown parameter: %q", res.message)
	}
}
