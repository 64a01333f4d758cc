//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// player is a user of the site, talking to it over HTTP as a browser would.
type player struct {
	base  string
	token string
	email string
	http  *http.Client

	mu       sync.Mutex
	backends map[string]int // X-Anb-Backend of the responses
}

func newClient(base string) *player {
	return &player{base: base, backends: map[string]int{},
		// Redirects are checked by hand: the media URLs answer 302 to S3.
		http: &http.Client{Timeout: 2 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not the JSON expected: %v\n%s", r.status, err, r.body)
	}
}

// call sends a request; body is JSON-encoded unless it is an io.Reader.
func (p *player) call(ctx context.Context, method, path string, body any, contentType string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		buf, _ := json.Marshal(b)
		rd, contentType = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	if b := resp.Header.Get("X-Anb-Backend"); b != "" {
		p.mu.Lock()
		p.backends[b]++
		p.mu.Unlock()
	}
	return response{status: resp.StatusCode, body: data, header: resp.Header}, nil
}

// must sends a request and fails the test unless it gets want.
func (p *player) must(t testing.TB, want int, method, path string, body any) response {
	t.Helper()
	r, err := p.call(context.Background(), method, path, body, "")
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
	}
	return r
}

// signUp registers a player and logs in.
func signUp(t testing.TB, base, first, last, city string) *player {
	t.Helper()
	p := newClient(base)
	email := fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(first), strings.ToLower(last), time.Now().UnixNano())
	p.must(t, http.StatusCreated, "POST", "/api/auth/signup", map[string]string{
		"first_name": first, "last_name": last, "email": email, "password1": "canasta-2025", "password2": "canasta-2025",
		"city": city, "country": "Colombia"})
	var login struct {
		AccessToken string `json:"access_token"`
	}
	p.must(t, http.StatusOK, "POST", "/api/auth/login", map[string]string{"email": email, "password": "canasta-2025"}).json(t, &login)
	p.token = login.AccessToken
	p.email = email
	return p
}

// multipartBody streams the upload form: the file is read as it is sent.
func multipartBody(path, title string, public bool) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("title", title)
		mw.WriteField("is_public", fmt.Sprint(public))
		fw, err := mw.CreateFormFile("video_file", "clip.mp4")
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		f, err := os.Open(path)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(fw, f); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

// upload sends a clip and returns the new video's id.
func (p *player) upload(t testing.TB, path, title string) string {
	t.Helper()
	body, ct := multipartBody(path, title, true)
	r, err := p.call(context.Background(), "POST", "/api/videos/upload", body, ct)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var out struct {
		VideoID string `json:"video_id"`
	}
	r.json(t, &out)
	return out.VideoID
}

type videoDetail struct {
	VideoID      string  `json:"video_id"`
	Status       string  `json:"status"`
	OriginalURL  string  `json:"original_url"`
	ProcessedURL *string `json:"processed_url"`
	PosterURL    *string `json:"poster_url"`
	Votes        int     `json:"votes"`
	Error        string  `json:"error"`
}

func (p *player) video(t testing.TB, id string) videoDetail {
	t.Helper()
	var v videoDetail
	p.must(t, http.StatusOK, "GET", "/api/videos/"+id, nil).json(t, &v)
	return v
}

// waitStatus polls the video until it reaches status (failing at once if it
// settles on another one) or timeout passes.
func (p *player) waitStatus(t testing.TB, id, status string, timeout time.Duration) videoDetail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := p.video(t, id)
		if v.Status == status {
			return v
		}
		if v.Status == "processed" || v.Status == "failed" {
			t.Fatalf("video %s is %s (%s), want %s", id, v.Status, v.Error, status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %s still %s after %s, want %s", id, v.Status, timeout, status)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
