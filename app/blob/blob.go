// Package blob keeps video files: a directory on disk in local mode, S3 on AWS.
package blob

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path"
)

// ErrNotFound is returned for a key that holds no object.
var ErrNotFound = errors.New("blob not found")

// Store is where originals, processed videos and posters live.
type Store interface {
	// PutFile stores the content of the local file at path under key.
	PutFile(ctx context.Context, key, path string) error
	// Get opens the object at key for reading.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the object; a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Serve answers an HTTP request for the object: streamed with Range
	// support from disk, or redirected to a short-lived URL on S3.
	Serve(w http.ResponseWriter, r *http.Request, key string) error
	// Ping tells whether the storage answers at all (a refusal is an
	// answer): a worker paused by a storage outage probes it.
	Ping(ctx context.Context) error
}

// Keys of a video's files.
func OriginalKey(videoID string) string  { return "originals/" + videoID + ".mp4" }
func ProcessedKey(videoID string) string { return "processed/" + videoID + ".mp4" }
func PosterKey(videoID string) string    { return "posters/" + videoID + ".jpg" }

// ContentType of a key, from its extension.
func ContentType(key string) string {
	switch path.Ext(key) {
	case ".mp4":
		return "video/mp4"
	case ".jpg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}
