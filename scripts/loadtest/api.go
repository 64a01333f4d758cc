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
	"path/filepath"
	"strconv"
	"time"
)

// Calls of the REST API used outside the measured loops.

func (c *client) json(ctx context.Context, method, path, token string, in, out any, want int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %.300s", method, path, res.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func signupBody(email, first, last, city, password string) map[string]string {
	return map[string]string{"first_name": first, "last_name": last, "email": email,
		"password1": password, "password2": password, "city": city, "country": "Colombia"}
}

// newUser signs up and logs in a user, returning the token.
func (c *client) newUser(ctx context.Context, email, city string) (string, error) {
	const password = "loadtest-password"
	if err := c.json(ctx, "POST", "/api/auth/signup", "", signupBody(email, "Carga", "Prueba", city, password), nil, http.StatusCreated); err != nil {
		return "", err
	}
	return c.login(ctx, email, password)
}

func (c *client) login(ctx context.Context, email, password string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := c.json(ctx, "POST", "/api/auth/login", "", map[string]string{"email": email, "password": password}, &tok, http.StatusOK)
	return tok.AccessToken, err
}

// publicVideoIDs lists up to max public processed video ids through the API.
func (c *client) publicVideoIDs(ctx context.Context, max int) ([]string, error) {
	var ids []string
	for page := 1; len(ids) < max && page <= 1000; page++ {
		var items []struct {
			VideoID string `json:"video_id"`
		}
		if err := c.json(ctx, "GET", "/api/public/videos?page_size=100&page="+strconv.Itoa(page), "", nil, &items, http.StatusOK); err != nil {
			return nil, err
		}
		for _, it := range items {
			ids = append(ids, it.VideoID)
		}
		if len(items) < 100 {
			break
		}
	}
	return ids[:min(len(ids), max)], nil
}

type videoStatus struct {
	VideoID string `json:"video_id"`
	Status  string `json:"status"`
	Error   string `json:"error"`
}

func (c *client) myVideos(ctx context.Context, token string) ([]videoStatus, error) {
	var out []videoStatus
	err := c.json(ctx, "GET", "/api/videos", token, nil, &out, http.StatusOK)
	return out, err
}

// uploadRequest streams a multipart upload of the file at path.
func uploadRequest(path, title, token string) (request, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return request{}, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return request{}, nil, err
	}
	// Compute the exact length so the request carries Content-Length, as browsers send it.
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	mw.WriteField("title", title)
	mw.WriteField("is_public", "true")
	if _, err := mw.CreateFormFile("video_file", filepath.Base(path)); err != nil {
		f.Close()
		return request{}, nil, err
	}
	headLen := head.Len()
	mw.Close()
	tail := append([]byte(nil), head.Bytes()[headLen:]...)
	head.Truncate(headLen)
	body := io.MultiReader(bytes.NewReader(head.Bytes()), f, bytes.NewReader(tail))
	r := request{op: "upload", method: "POST", path: "/api/videos/upload", token: token, ctype: mw.FormDataContentType(),
		reader: body, length: int64(head.Len()) + fi.Size() + int64(len(tail)), want: []int{http.StatusCreated}}
	return r, func() { f.Close() }, nil
}

// waitHealthy waits until GET /health answers 200.
func (c *client) waitHealthy(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := c.json(ctx, "GET", "/health", "", nil, nil, http.StatusOK)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not healthy: %w", c.base, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
