package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anb/risingstars/app/mp4"
	"github.com/labstack/echo/v4"
)

// Upload rules of the contract (app/apidoc/openapi.json).
const (
	MaxVideoBytes  = 100 << 20
	MinDuration    = 20 * time.Second
	MaxDuration    = 60 * time.Second
	MinShortSide   = 1080
	MaxTitleLength = 200

	maxFieldBytes = 64 << 10 // text fields; anything longer is refused, not buffered
	// The whole body may exceed the file by the other fields and multipart framing.
	maxUploadBody = MaxVideoBytes + 1<<20
)

var errTooLarge = badRequest("El archivo supera el tamaño máximo de 100 MB.", map[string]string{"video_file": "Máximo 100 MB."})

// upload is a validated upload staged in a spool file.
type upload struct {
	title    string
	isPublic bool
	file     *os.File
	size     int64
	info     mp4.Info
}

func (u *upload) discard() {
	if u.file != nil {
		u.file.Close()
		os.Remove(u.file.Name())
	}
}

// receiveUpload streams the multipart body: the file goes to a spool file as
// it arrives (never whole in memory) and reading stops as soon as it passes
// 100 MB. Then the content is checked. The returned upload, even with an
// error, must be discarded by the caller.
func (a *api) receiveUpload(c echo.Context) (*upload, error) {
	req := c.Request()
	mediaType, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mediaType != "multipart/form-data" {
		return nil, badRequest("La solicitud debe enviarse como multipart/form-data con los campos video_file y title.", nil)
	}
	req.Body = http.MaxBytesReader(c.Response(), req.Body, maxUploadBody)
	mr, err := req.MultipartReader()
	if err != nil {
		return nil, badRequest("El cuerpo multipart es inválido.", nil)
	}
	up := &upload{isPublic: true}
	var titleSeen bool
	problems := map[string]string{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return up, bodyError(err)
		}
		switch part.FormName() {
		case "video_file":
			if up.file != nil {
				return up, badRequest("Envía un solo archivo en video_file.", map[string]string{"video_file": "Campo repetido."})
			}
			if up.file, err = os.CreateTemp(a.SpoolDir, "upload-*.mp4"); err != nil {
				return up, fmt.Errorf("create spool file: %w", err)
			}
			up.size, err = io.Copy(up.file, io.LimitReader(part, MaxVideoBytes+1))
			if err != nil {
				return up, bodyError(err)
			}
			if up.size > MaxVideoBytes {
				return up, errTooLarge
			}
		case "title":
			value, tooLong, err := readField(part)
			if err != nil {
				return up, bodyError(err)
			}
			titleSeen = true
			up.title = strings.TrimSpace(value)
			switch {
			case tooLong || utf8.RuneCountInString(up.title) > MaxTitleLength:
				problems["title"] = fmt.Sprintf("El título no puede superar %d caracteres.", MaxTitleLength)
			case !storableText(up.title):
				problems["title"] = msgBadText
			case up.title == "":
				problems["title"] = "El título es obligatorio."
			}
		case "is_public":
			value, _, err := readField(part)
			if err != nil {
				return up, bodyError(err)
			}
			if up.isPublic, err = strconv.ParseBool(strings.TrimSpace(value)); err != nil {
				problems["is_public"] = "Debe ser true o false."
			}
		default:
			if _, err := io.Copy(io.Discard, io.LimitReader(part, maxFieldBytes)); err != nil {
				return up, bodyError(err)
			}
		}
	}
	if !titleSeen {
		problems["title"] = "El título es obligatorio."
	}
	if up.file == nil {
		problems["video_file"] = "Adjunta el video en el campo video_file."
	} else if msg := a.checkVideo(up); msg != "" {
		problems["video_file"] = msg
	}
	if len(problems) > 0 {
		msg := "La carga del video es inválida."
		if len(problems) == 1 {
			for _, p := range problems {
				msg = p
			}
		}
		return up, badRequest(msg, problems)
	}
	return up, nil
}

// readField reads a text field up to maxFieldBytes, reporting a longer one.
func readField(part io.Reader) (string, bool, error) {
	b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
	if err != nil {
		return "", false, err
	}
	if len(b) > maxFieldBytes {
		return "", true, nil
	}
	return string(b), false, nil
}

func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errTooLarge
	}
	return badRequest("No se pudo leer el cuerpo de la solicitud; la carga se interrumpió o está mal formada.", nil)
}

// checkVideo validates the staged file by its content and says what is wrong.
func (a *api) checkVideo(up *upload) string {
	if up.size == 0 {
		return "El archivo está vacío."
	}
	info, err := mp4.Probe(up.file, up.size)
	switch {
	case mp4.MajorBrand(up.file) == mp4.BrandQuickTime:
		return "El archivo es un video QuickTime (.mov), no MP4. Expórtalo o conviértelo a MP4 (H.264) desde tu editor o el teléfono, o con: ffmpeg -i video.mov -c copy video.mp4, y súbelo de nuevo."
	case errors.Is(err, mp4.ErrNotMP4):
		return "El archivo no es un video MP4."
	case err != nil:
		return "El archivo MP4 está dañado o incompleto."
	case info.Duration < MinDuration || info.Duration > MaxDuration:
		return fmt.Sprintf("El video debe durar entre 20 y 60 segundos; dura %.1f s.", info.Duration.Seconds())
	case info.ShortSide() < MinShortSide:
		return fmt.Sprintf("El video debe tener resolución 1080p o superior; su lado menor mide %d px.", info.ShortSide())
	}
	up.info = info
	return ""
}
