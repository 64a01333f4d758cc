package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"github.com/anb/risingstars/app/awstest"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anb/risingstars/app/blob"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

const bucket = "anb-test"

// newS3 serves an in-process gofakes3 over plain HTTP (over TLS it corrupts
// the SDK's chunked uploads) and builds the store from the SDK's standard
// environment, as the binaries do.
func newS3(t *testing.T) (*blob.S3, *httptest.Server) {
	s, srv, _ := newCountingS3(t)
	return s, srv
}

// newCountingS3 also counts the part uploads the server receives.
func newCountingS3(t *testing.T) (*blob.S3, *httptest.Server, *atomic.Int64) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	parts := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			parts.Add(1)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return blob.NewS3(awstest.Config(t, "S3", srv.URL), bucket), srv, parts
}

func randomFile(t *testing.T, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "file.mp4")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func readAll(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestS3StoresSmallAndMultipartFilesWhole(t *testing.T) {
	s, _, parts := newCountingS3(t)
	for _, tc := range []struct {
		name  string
		size  int
		parts int64
	}{
		{"single request", 300 << 10, 0},
		{"multipart, 3 parts", 20 << 20, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts.Store(0)
			path, data := randomFile(t, tc.size)
			key := blob.OriginalKey(strings.ReplaceAll(tc.name, " ", "-"))
			if err := s.PutFile(context.Background(), key, path); err != nil {
				t.Fatal(err)
			}
			if parts.Load() != tc.parts {
				t.Errorf("sent in %d parts, want %d", parts.Load(), tc.parts)
			}
			if got := readAll(t, s, key); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes that differ from the %d stored", len(got), len(data))
			}
		})
	}
}

func TestS3PutFileReplacesTheObject(t *testing.T) {
	s, _ := newS3(t)
	key := blob.ProcessedKey("v")
	first, _ := randomFile(t, 1000)
	second, want := randomFile(t, 2000)
	for _, p := range []string{first, second} {
		if err := s.PutFile(context.Background(), key, p); err != nil {
			t.Fatal(err)
		}
	}
	if got := readAll(t, s, key); !bytes.Equal(got, want) {
		t.Fatal("the second upload did not replace the first")
	}
}

func TestS3MissingObjectsAndDeletes(t *testing.T) {
	s, _ := newS3(t)
	ctx := context.Background()
	if _, err := s.Get(ctx, "originals/none.mp4"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("get of a missing key: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "originals/none.mp4"); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
	}
	path, _ := randomFile(t, 100)
	key := blob.PosterKey("v")
	if err := s.PutFile(ctx, key, path); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
}

func TestS3ServeRedirectsToAShortLivedPresignedURL(t *testing.T) {
	s, srv := newS3(t)
	path, data := randomFile(t, 4096)
	key := blob.ProcessedKey("v1")
	if err := s.PutFile(context.Background(), key, path); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := s.Serve(rec, httptest.NewRequest(http.MethodGet, "/api/videos/v1/processed", nil), key); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusFound {
		t.Fatalf("status = %d, want 302", rec.Code)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if want := srv.URL + "/" + bucket + "/" + key; loc.Scheme+"://"+loc.Host+loc.Path != want {
		t.Errorf("redirect to %s, want the path-style object URL %s", loc, want)
	}
	if q.Get("X-Amz-Expires") != "900" || q.Get("X-Amz-Signature") == "" {
		t.Errorf("redirect is not a presigned URL valid 15 min: %s", loc)
	}
	if q.Has("X-Amz-Checksum-Mode") {
		t.Errorf("presigned URL asks for checksum mode, which only an SDK client uses: %s", loc)
	}
	if q.Get("response-content-type") != "video/mp4" {
		t.Errorf("response-content-type = %q, want video/mp4", q.Get("response-content-type"))
	}
	resp, err := http.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("presigned GET: %d, %d bytes (want 200, %d bytes)", resp.StatusCode, len(got), len(data))
	}
}

func TestS3CancelledUploadLeavesNoObject(t *testing.T) {
	s, _ := newS3(t)
	path, _ := randomFile(t, 20<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.PutFile(ctx, blob.OriginalKey("cancelled"), path); err == nil {
		t.Fatal("upload with a cancelled context succeeded")
	}
	if _, err := s.Get(context.Background(), blob.OriginalKey("cancelled")); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("get after a cancelled upload: %v, want ErrNotFound", err)
	}
}

// s3Error answers every request as S3 does when it refuses one, with the
// status and the XML error body of the S3 protocol.
func s3Error(t *testing.T, status int, code string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>refused</Message><RequestId>r</RequestId></Error>`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Only a missing object is ErrNotFound (the video's own problem, counted
// by the worker); a refusal, a server error or no answer is an outage.
// Ping, the paused worker's probe, counts any answer below 500 as S3
// being there.
func TestS3TellsAMissingObjectFromAnOutage(t *testing.T) {
	ctx := context.Background()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, c := range []struct {
		name     string
		endpoint func() string
		notFound bool
		pingOK   bool
	}{
		{"missing key (404 NoSuchKey)", func() string { _, srv := newS3(t); return srv.URL }, true, true},
		{"access denied (403)", func() string { return s3Error(t, http.StatusForbidden, "AccessDenied").URL }, false, true},
		{"server error (503)", func() string { return s3Error(t, http.StatusServiceUnavailable, "SlowDown").URL }, false, false},
		{"no answer", func() string { return gone.URL }, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := blob.NewS3(awstest.Config(t, "S3", c.endpoint()), bucket)
			_, err := s.Get(ctx, blob.OriginalKey("none"))
			if err == nil || errors.Is(err, blob.ErrNotFound) != c.notFound {
				t.Errorf("Get = %v, want ErrNotFound %v", err, c.notFound)
			}
			if err := s.Ping(ctx); (err == nil) != c.pingOK {
				t.Errorf("Ping = %v, want reachable %v", err, c.pingOK)
			}
		})
	}
}
