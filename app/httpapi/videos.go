package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/anb/risingstars/app/blob"
	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/videos"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// videoSummary is an item of GET /api/videos.
type videoSummary struct {
	VideoID      string     `json:"video_id"`
	Title        string     `json:"title"`
	Status       string     `json:"status"`
	IsPublic     bool       `json:"is_public"`
	UploadedAt   time.Time  `json:"uploaded_at"`
	ProcessedAt  *time.Time `json:"processed_at,omitempty"`
	ProcessedURL string     `json:"processed_url,omitempty"`
	PosterURL    string     `json:"poster_url,omitempty"`
	Error        string     `json:"error,omitempty"`
}

// videoDetail is GET /api/videos/{id}.
type videoDetail struct {
	VideoID      string     `json:"video_id"`
	Title        string     `json:"title"`
	Status       string     `json:"status"`
	IsPublic     bool       `json:"is_public"`
	UploadedAt   time.Time  `json:"uploaded_at"`
	ProcessedAt  *time.Time `json:"processed_at"`
	OriginalURL  string     `json:"original_url"`
	ProcessedURL *string    `json:"processed_url"`
	PosterURL    *string    `json:"poster_url"`
	Votes        int64      `json:"votes"`
	Error        string     `json:"error,omitempty"`
}

// failureReason is shown only once the video has failed; while retries are
// pending the last error stays internal.
func failureReason(v store.Video) string {
	if v.Status == store.StatusFailed {
		return v.Error
	}
	return ""
}

func (a *api) summarize(v store.Video) videoSummary {
	s := videoSummary{VideoID: v.ID, Title: v.Title, Status: v.Status, IsPublic: v.IsPublic,
		UploadedAt: v.UploadedAt, Error: failureReason(v)}
	if v.Status == store.StatusProcessed {
		s.ProcessedAt = v.ProcessedAt
		s.ProcessedURL = a.mediaLink(v.ID, "processed")
		s.PosterURL = a.mediaLink(v.ID, "poster")
	}
	return s
}

func (a *api) detail(v store.Video) videoDetail {
	d := videoDetail{VideoID: v.ID, Title: v.Title, Status: v.Status, IsPublic: v.IsPublic,
		UploadedAt: v.UploadedAt, OriginalURL: a.mediaLink(v.ID, "original"), Votes: v.Votes, Error: failureReason(v)}
	if v.Status == store.StatusProcessed {
		processed, poster := a.mediaLink(v.ID, "processed"), a.mediaLink(v.ID, "poster")
		d.ProcessedAt, d.ProcessedURL, d.PosterURL = v.ProcessedAt, &processed, &poster
	}
	return d
}

func (a *api) upload(c echo.Context) error {
	up, err := a.receiveUpload(c)
	if up != nil {
		defer up.discard()
	}
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := a.Videos.Upload(ctx, videos.NewUpload{Owner: userID(c), Title: up.title, Public: up.isPublic, Path: up.file.Name()})
	if err != nil {
		return err
	}
	a.Log.InfoContext(ctx, "video uploaded", "video_id", v.ID, "task_id", v.TaskID, "user_id", v.UserID,
		"bytes", up.size, "duration_s", up.info.Duration.Seconds())
	return c.JSON(http.StatusCreated, map[string]string{
		"message":  "Video subido correctamente. Procesamiento en curso.",
		"task_id":  v.TaskID,
		"video_id": v.ID,
	})
}

// ownPageSize is the default page of GET /api/videos: a player has a few
// videos, and clients written before paging expect them all.
const ownPageSize = maxPageSize

func (a *api) listVideos(c echo.Context) error {
	if err := queryParams(c, "page", "page_size"); err != nil {
		return err
	}
	p, err := parsePaging(c, ownPageSize)
	if err != nil {
		return err
	}
	list, total, err := a.Catalog.UserVideosPage(c.Request().Context(), userID(c), p.page, p.size)
	if err != nil {
		return err
	}
	out := make([]videoSummary, len(list))
	for i, v := range list {
		out[i] = a.summarize(v)
	}
	setPaging(c, p, total)
	return c.JSON(http.StatusOK, out)
}

// videoID is the id named in the path; a malformed id is simply unknown.
func videoID(c echo.Context) (string, error) {
	id := c.Param("video_id")
	if _, err := uuid.Parse(id); err != nil {
		return "", errVideoNotFound
	}
	return id, nil
}

func (a *api) findVideo(c echo.Context) (store.Video, error) {
	id, err := videoID(c)
	if err != nil {
		return store.Video{}, err
	}
	return a.Catalog.Video(c.Request().Context(), id)
}

func (a *api) ownVideo(c echo.Context) (store.Video, error) {
	v, err := a.findVideo(c)
	if err != nil {
		return v, err
	}
	if v.UserID != userID(c) {
		return v, errForbidden
	}
	return v, nil
}

func (a *api) getVideo(c echo.Context) error {
	v, err := a.ownVideo(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.detail(v))
}

func (a *api) deleteVideo(c echo.Context) error {
	id, err := videoID(c)
	if err != nil {
		return err
	}
	v, err := a.Videos.Delete(c.Request().Context(), id, userID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"message": "El video ha sido eliminado exitosamente.", "video_id": v.ID})
}

func (a *api) serveOriginal(c echo.Context) error {
	v, err := a.findVideo(c)
	if err != nil {
		return err
	}
	if err := a.mayWatch(c, v, false); err != nil {
		return err
	}
	return a.serveBlob(c, blob.OriginalKey(v.ID))
}

func (a *api) serveProcessed(c echo.Context) error { return a.serveResult(c, blob.ProcessedKey) }
func (a *api) servePoster(c echo.Context) error    { return a.serveResult(c, blob.PosterKey) }

func (a *api) serveResult(c echo.Context, key func(string) string) error {
	v, err := a.findVideo(c)
	if err != nil {
		return err
	}
	if err := a.mayWatch(c, v, true); err != nil {
		return err
	}
	if v.Status != store.StatusProcessed {
		return errNotProcessed
	}
	return a.serveBlob(c, key(v.ID))
}

// mayWatch lets anyone see a published result and only the owner the rest.
// A signed link of this file opens it for whoever holds it.
func (a *api) mayWatch(c echo.Context, v store.Video, result bool) error {
	if signed, err := a.signedLink(c, v.ID); signed || err != nil {
		return err
	}
	if result && v.Published() {
		return nil
	}
	switch userID(c) {
	case 0:
		return errUnauthorized
	case v.UserID:
		return nil
	}
	return errForbidden
}

func (a *api) serveBlob(c echo.Context, key string) error {
	err := a.Blobs.Serve(&jsonErrorWriter{ResponseWriter: c.Response()}, c.Request(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return &apiError{Status: http.StatusNotFound, Message: "El archivo del video no está disponible."}
	}
	return err
}

// jsonErrorWriter turns the plain-text errors of http.ServeContent (416 for
// an unsatisfiable range, 412 for a failed precondition) into the API's
// JSON error.
type jsonErrorWriter struct {
	http.ResponseWriter
	replaced bool
}

func (w *jsonErrorWriter) WriteHeader(status int) {
	if status < http.StatusBadRequest {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.replaced = true
	WriteStatus(w.ResponseWriter, status)
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
