package apidoc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestDocumentIsValidOpenAPI(t *testing.T) {
	doc, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	// Every endpoint of the contract, plus the media, health and docs endpoints.
	want := map[string][]string{
		"/api/auth/signup":                   {"POST"},
		"/api/auth/login":                    {"POST"},
		"/api/videos/upload":                 {"POST"},
		"/api/videos":                        {"GET"},
		"/api/videos/{video_id}":             {"GET", "DELETE"},
		"/api/videos/{video_id}/original":    {"GET"},
		"/api/videos/{video_id}/processed":   {"GET"},
		"/api/videos/{video_id}/poster":      {"GET"},
		"/api/public/videos":                 {"GET"},
		"/api/public/videos/{video_id}/vote": {"POST"},
		"/api/public/rankings":               {"GET"},
		"/api/auth/verify":                   {"GET"},
		"/api/auth/verification":             {"POST"},
		"/api/auth/me":                       {"GET"},
		"/health":                            {"GET"},
		"/health/ready":                      {"GET"},
		"/api/openapi.json":                  {"GET"},
		"/api/docs":                          {"GET"},
	}
	if got := doc.Paths.Len(); got != len(want) {
		t.Errorf("document has %d paths, want %d", got, len(want))
	}
	for path, methods := range want {
		item := doc.Paths.Value(path)
		if item == nil {
			t.Errorf("path %s missing", path)
			continue
		}
		for _, m := range methods {
			op := item.GetOperation(m)
			if op == nil {
				t.Errorf("%s %s missing", m, path)
				continue
			}
			// Every error the API documents has the shared error shape, except
			// the HTML answers of a page meant for a person (the e-mail link).
			page := op.Responses.Status(200) != nil && op.Responses.Status(200).Value.Content.Get("text/html") != nil
			for code, ref := range op.Responses.Map() {
				if code[0] != '4' && code[0] != '5' {
					continue
				}
				if page && ref.Value.Content.Get("text/html") != nil && ref.Value.Content.Get("application/json") == nil {
					continue
				}
				mt := ref.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil || mt.Schema.Ref != "#/components/schemas/Error" {
					t.Errorf("%s %s %s: error response is not the Error schema", m, path, code)
				}
			}
		}
	}
}

func TestRegisterServesDocumentAndDocsPage(t *testing.T) {
	e := echo.New()
	Register(e)

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/openapi.json = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc["openapi"] != "3.0.3" {
		t.Errorf("served document does not parse as OpenAPI 3.0.3: %v", err)
	}

	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/docs", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/docs = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q", ct)
	}
	page := rec.Body.String()
	for _, want := range []string{`"/api/videos/upload"`, "Video subido correctamente. Procesamiento en curso.", "<script>"} {
		if !strings.Contains(page, want) {
			t.Errorf("docs page lacks %q", want)
		}
	}
	// Offline: nothing is loaded from elsewhere.
	for _, banned := range []string{"<script src", "<link", "@import", "url(http", "fetch("} {
		if strings.Contains(page, banned) {
			t.Errorf("docs page contains %q: it must work offline", banned)
		}
	}
	if strings.Contains(page, "/*OPENAPI*/null") {
		t.Error("document not inlined into the docs page")
	}
}

const videoID = "5f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"

// reply answers with a fixed status, headers and body.
func reply(status int, contentType, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func jsonReply(status int, body string) http.HandlerFunc {
	return reply(status, "application/json; charset=UTF-8", body)
}

func multipartBody(t *testing.T, fields map[string]string, withFile bool) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if withFile {
		fw, err := w.CreateFormFile("video_file", "clip.mp4")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte("\x00\x00\x00\x18ftypmp42 not really a video"))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, w.FormDataContentType()
}

func TestValidator(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer srv.Close()

	detail := `{"video_id":"` + videoID + `","title":"Crossover","status":"uploaded","is_public":false,` +
		`"uploaded_at":"2025-11-27T09:58:00.123456Z","processed_at":null,"original_url":"/api/videos/` + videoID + `/original",` +
		`"processed_url":null,"votes":0}`
	upload := `{"message":"Video subido correctamente. Procesamiento en curso.","task_id":"0b9e4a52-8a0f-4a3c-9a43-3f0f6c0b7d21","video_id":"` + videoID + `"}`

	type request struct {
		method, path, contentType string
		body                      func(t *testing.T) (io.Reader, string)
		header                    map[string]string
	}
	jsonBody := func(s string) func(*testing.T) (io.Reader, string) {
		return func(*testing.T) (io.Reader, string) { return strings.NewReader(s), "application/json" }
	}
	form := func(fields map[string]string, withFile bool) func(*testing.T) (io.Reader, string) {
		return func(t *testing.T) (io.Reader, string) { return multipartBody(t, fields, withFile) }
	}
	tests := []struct {
		name    string
		req     request
		handler http.HandlerFunc
		wantErr error // nil: the exchange conforms
	}{
		{
			name:    "conforming login",
			req:     request{method: "POST", path: "/api/auth/login", body: jsonBody(`{"email":"a@b.co","password":"secret123"}`)},
			handler: jsonReply(200, `{"access_token":"x.y.z","token_type":"Bearer","expires_in":3600}`),
		},
		{
			name:    "response missing a required field",
			req:     request{method: "POST", path: "/api/auth/login", body: jsonBody(`{"email":"a@b.co","password":"secret123"}`)},
			handler: jsonReply(200, `{"access_token":"x.y.z","expires_in":3600}`),
			wantErr: ErrResponseMismatch,
		},
		{
			name:    "undocumented status",
			req:     request{method: "POST", path: "/api/auth/login", body: jsonBody(`{"email":"a@b.co","password":"secret123"}`)},
			handler: jsonReply(500, `{"message":"boom"}`),
			wantErr: ErrResponseMismatch,
		},
		{
			name:    "error with empty message",
			req:     request{method: "POST", path: "/api/auth/login", body: jsonBody(`{"email":"a@b.co","password":"nope"}`)},
			handler: jsonReply(401, `{"message":""}`),
			wantErr: ErrResponseMismatch,
		},
		{
			name:    "error as plain text",
			req:     request{method: "GET", path: "/api/videos"},
			handler: reply(401, "text/plain; charset=utf-8", "unauthorized"),
			wantErr: ErrResponseMismatch,
		},
		{
			name:    "unknown path",
			req:     request{method: "GET", path: "/api/nope"},
			handler: jsonReply(404, `{"message":"Not Found"}`),
			wantErr: ErrUndocumentedRoute,
		},
		{
			name:    "undocumented method",
			req:     request{method: "PUT", path: "/api/videos"},
			handler: jsonReply(405, `{"message":"Method Not Allowed"}`),
			wantErr: ErrUndocumentedRoute,
		},
		{
			name:    "outside the API is not checked",
			req:     request{method: "GET", path: "/"},
			handler: reply(200, "text/html", "<html></html>"),
		},
		{
			name:    "invalid request rejected with 400",
			req:     request{method: "POST", path: "/api/auth/signup", body: jsonBody(`{"email":"not-an-email"}`)},
			handler: jsonReply(400, `{"message":"Datos inválidos.","details":{"city":"obligatorio"}}`),
		},
		{
			name:    "invalid request accepted",
			req:     request{method: "POST", path: "/api/auth/signup", body: jsonBody(`{"email":"not-an-email"}`)},
			handler: jsonReply(201, `{"message":"Usuario creado exitosamente.","user_id":1}`),
			wantErr: ErrAcceptedInvalidRequest,
		},
		{
			name:    "bad paging rejected",
			req:     request{method: "GET", path: "/api/public/rankings?page=0"},
			handler: jsonReply(400, `{"message":"Parámetros inválidos."}`),
		},
		{
			name:    "bad paging accepted",
			req:     request{method: "GET", path: "/api/public/rankings?page_size=101"},
			handler: jsonReply(200, `[]`),
			wantErr: ErrAcceptedInvalidRequest,
		},
		{
			name:    "rankings conform",
			req:     request{method: "GET", path: "/api/public/rankings?city=Bogot%C3%A1&page=2&page_size=1"},
			handler: jsonReply(200, `[{"position":2,"username":"Ana Pérez","city":"Bogotá","votes":0}]`),
		},
		{
			name:    "video detail before processing (nulls, extra fields)",
			req:     request{method: "GET", path: "/api/videos/" + videoID, header: map[string]string{"Authorization": "Bearer x"}},
			handler: jsonReply(200, strings.Replace(detail, `"votes":0`, `"votes":0,"error":"","poster_url":null`, 1)),
		},
		{
			name:    "video detail with an unknown status",
			req:     request{method: "GET", path: "/api/videos/" + videoID},
			handler: jsonReply(200, strings.Replace(detail, `"uploaded"`, `"queued"`, 1)),
			wantErr: ErrResponseMismatch,
		},
		{
			name:    "malformed id answered 404",
			req:     request{method: "GET", path: "/api/videos/not-a-uuid"},
			handler: jsonReply(404, `{"message":"Video no encontrado."}`),
		},
		{
			name:    "conforming upload",
			req:     request{method: "POST", path: "/api/videos/upload", body: form(map[string]string{"title": "Crossover", "is_public": "false"}, true)},
			handler: jsonReply(201, upload),
		},
		{
			name:    "upload with a bad is_public accepted",
			req:     request{method: "POST", path: "/api/videos/upload", body: form(map[string]string{"title": "Crossover", "is_public": "maybe"}, true)},
			handler: jsonReply(201, upload),
			wantErr: ErrAcceptedInvalidRequest,
		},
		{
			name:    "upload without a file accepted",
			req:     request{method: "POST", path: "/api/videos/upload", body: form(map[string]string{"title": "Crossover"}, false)},
			handler: jsonReply(201, upload),
			wantErr: ErrAcceptedInvalidRequest,
		},
		{
			name:    "upload without a file rejected",
			req:     request{method: "POST", path: "/api/videos/upload", body: form(map[string]string{"title": "Crossover"}, false)},
			handler: jsonReply(400, `{"message":"Debe adjuntar un archivo de video (video_file)."}`),
		},
		{
			name:    "upload too large answered 413",
			req:     request{method: "POST", path: "/api/videos/upload", body: form(map[string]string{"title": "Crossover"}, true)},
			handler: jsonReply(413, `{"message":"Request Entity Too Large"}`),
			wantErr: ErrResponseMismatch,
		},
		{
			name:    "video range",
			req:     request{method: "GET", path: "/api/videos/" + videoID + "/processed", header: map[string]string{"Range": "bytes=0-3"}},
			handler: reply(206, "video/mp4", "\x00\x00\x00\x18", "Content-Range", "bytes 0-3/1000"),
		},
		{
			name:    "poster",
			req:     request{method: "GET", path: "/api/videos/" + videoID + "/poster?access_token=x.y.z"},
			handler: reply(200, "image/jpeg", "\xff\xd8\xff\xe0"),
		},
		{
			name:    "video with a wrong content type",
			req:     request{method: "GET", path: "/api/videos/" + videoID + "/original"},
			handler: reply(200, "text/plain", "hello"),
			wantErr: ErrResponseMismatch,
		},
		{
			name: "redirect to presigned S3 URL",
			req:  request{method: "GET", path: "/api/videos/" + videoID + "/processed"},
			handler: func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/api/") {
					http.Redirect(w, r, "/anb-bucket/processed/"+videoID+".mp4?X-Amz-Signature=abc", http.StatusFound)
					return
				}
				reply(200, "binary/octet-stream", "\x00\x00\x00\x18")(w, r)
			},
		},
		{
			name:    "redirect without Location",
			req:     request{method: "GET", path: "/api/videos/" + videoID + "/processed"},
			handler: reply(302, "text/html", "moved"),
			wantErr: ErrResponseMismatch,
		},
		{
			name:    "health",
			req:     request{method: "GET", path: "/health"},
			handler: jsonReply(200, `{"status":"ok"}`),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			handler = tc.handler
			var body io.Reader
			contentType := ""
			if tc.req.body != nil {
				body, contentType = tc.req.body(t)
			}
			req, err := http.NewRequest(tc.req.method, srv.URL+tc.req.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			for k, val := range tc.req.header {
				req.Header.Set(k, val)
			}
			var got []error
			client := &http.Client{Transport: v.Transport(nil, func(err error) { got = append(got, err) })}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			// The caller still reads the whole body.
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.req.method != "HEAD" && len(b) == 0 {
				t.Error("response body was not handed on")
			}
			for _, err := range got {
				t.Logf("violation: %v", err)
			}
			switch {
			case tc.wantErr == nil && len(got) > 0:
				t.Errorf("unexpected violation: %v", got[0])
			case tc.wantErr != nil && len(got) == 0:
				t.Errorf("want %v, got none", tc.wantErr)
			case tc.wantErr != nil && !errors.Is(got[0], tc.wantErr):
				t.Errorf("want %v, got %v", tc.wantErr, got[0])
			}
		})
	}

	t.Run("nil onError fails the round trip", func(t *testing.T) {
		handler = jsonReply(200, `{}`)
		client := &http.Client{Transport: v.Transport(nil, nil)}
		_, err := client.Get(srv.URL + "/api/public/rankings")
		if !errors.Is(err, ErrResponseMismatch) {
			t.Errorf("err = %v, want %v", err, ErrResponseMismatch)
		}
	})

	t.Run("request body reaches the server unchanged", func(t *testing.T) {
		const sent = `{"email":"a@b.co","password":"secret123"}`
		var received string
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			received = string(b)
			jsonReply(401, `{"message":"Credenciales inválidas."}`)(w, r)
		})
		client := &http.Client{Transport: v.Transport(nil, func(err error) { t.Error(err) })}
		resp, err := client.Post(srv.URL+"/api/auth/login", "application/json", strings.NewReader(sent))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if received != sent {
			t.Errorf("server received %q, want %q", received, sent)
		}
	})
}

// zeros is an endless source of zero bytes that allocates nothing.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func TestTransportStreamsLargeBodies(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n, _ := io.Copy(io.Discard, r.Body)
			if n < size {
				t.Errorf("server received %d bytes, want more than %d", n, size)
			}
			jsonReply(201, `{"message":"Video subido correctamente. Procesamiento en curso.","task_id":"0b9e4a52-8a0f-4a3c-9a43-3f0f6c0b7d21","video_id":"`+videoID+`"}`)(w, r)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		io.Copy(w, io.LimitReader(zeros{}, size))
	}))
	defer srv.Close()
	client := &http.Client{Transport: v.Transport(nil, func(err error) { t.Error(err) })}

	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	const limit = 16 << 20 // client, validator and server together, for 64 MB
	up := allocated(func() {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			mw.WriteField("title", "Grande")
			fw, _ := mw.CreateFormFile("video_file", "big.mp4")
			io.Copy(fw, io.LimitReader(zeros{}, size))
			pw.CloseWithError(mw.Close())
		}()
		resp, err := client.Post(srv.URL+"/api/videos/upload", mw.FormDataContentType(), pr)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
	t.Logf("upload allocated %d KB", up>>10)
	if up > limit {
		t.Errorf("a 64 MB upload allocated %d MB through the validator", up>>20)
	}
	down := allocated(func() {
		resp, err := client.Get(srv.URL + "/api/videos/" + videoID + "/original")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != size {
			t.Errorf("caller read %d bytes, want %d", n, size)
		}
	})
	t.Logf("download allocated %d KB", down>>10)
	if down > limit {
		t.Errorf("a 64 MB download allocated %d MB through the validator", down>>20)
	}
}
