package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/app/videos"
	"github.com/labstack/echo/v4"
)

// apiError is an error the client sees: a status, a message in Spanish and,
// for invalid input, what is wrong with each field.
type apiError struct {
	Status  int               `json:"-"`
	Message string            `json:"message"`
	Details map[string]string `json:"details,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func badRequest(msg string, details map[string]string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: msg, Details: details}
}

var (
	errUnauthorized   = &apiError{Status: http.StatusUnauthorized, Message: "Se requiere un token de acceso válido."}
	errTokenInvalid   = &apiError{Status: http.StatusUnauthorized, Message: "El token de acceso es inválido o ha expirado."}
	errBadCredentials = &apiError{Status: http.StatusUnauthorized, Message: "Credenciales inválidas."}
	errVideoNotFound  = &apiError{Status: http.StatusNotFound, Message: "El video no existe."}
	errNotProcessed   = &apiError{Status: http.StatusNotFound, Message: "El video aún no ha sido procesado."}
	errForbidden      = &apiError{Status: http.StatusForbidden, Message: "No tienes permiso para acceder a este video."}
	errPublished      = &apiError{Status: http.StatusBadRequest, Message: "El video ya está publicado para votación y no puede eliminarse."}
	errAlreadyVoted   = &apiError{Status: http.StatusBadRequest, Message: "Ya has votado por este video."}
	errUnavailable    = &apiError{Status: http.StatusServiceUnavailable, Message: "El servicio no está disponible en este momento. Inténtalo de nuevo en unos segundos."}
	errStorageDown    = &apiError{Status: http.StatusServiceUnavailable, Message: "El almacenamiento de videos no está disponible en este momento. Inténtalo de nuevo en unos minutos."}
	errDuplicateEmail = &apiError{Status: http.StatusBadRequest, Message: "El correo electrónico ya está registrado.",
		Details: map[string]string{"email": "Ya existe una cuenta con este correo electrónico."}}
	errTooManyLogins = &apiError{Status: http.StatusTooManyRequests,
		Message: "Demasiados intentos fallidos de inicio de sesión. Espera unos minutos (lo indica la cabecera Retry-After) e inténtalo de nuevo."}
	errTooManySignupsAddress = &apiError{Status: http.StatusTooManyRequests,
		Message: "Demasiados registros desde tu dirección de red. Espera (lo indica la cabecera Retry-After) e inténtalo de nuevo."}
	errTooManySignupsTotal = &apiError{Status: http.StatusTooManyRequests,
		Message: "Demasiados registros en la plataforma en este momento. Espera unos minutos (lo indica la cabecera Retry-After) e inténtalo de nuevo."}
	errTooManyResends = &apiError{Status: http.StatusTooManyRequests,
		Message: "Demasiados mensajes de verificación pedidos. Revisa tu correo (también la carpeta de spam) o espera (lo indica la cabecera Retry-After)."}
	errAlreadyVerified  = &apiError{Status: http.StatusConflict, Message: "Tu correo electrónico ya está verificado."}
	errOriginNotAllowed = &apiError{Status: http.StatusForbidden, Message: "El origen de esta página no está autorizado para usar la API."}
	errMediaLink        = &apiError{Status: http.StatusForbidden,
		Message: "El enlace del archivo no es válido o ya expiró. Vuelve a cargar la página para obtener uno nuevo."}
	errTokenInURL = badRequest("El token de acceso no se acepta en la URL: envíalo en la cabecera Authorization (Bearer) o usa los enlaces firmados que da la API.",
		map[string]string{"access_token": "No se admite en la URL."})
)

// retryAfterSeconds is what a 503 asks clients to wait: a database failover
// takes about a minute, a blip a few seconds.
const retryAfterSeconds = "5"

// toAPIError is the one place where domain errors become HTTP statuses.
func toAPIError(err error) *apiError {
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, store.ErrNotFound):
		return errVideoNotFound
	case errors.Is(err, store.ErrForbidden):
		return errForbidden
	case errors.Is(err, store.ErrPublished):
		return errPublished
	case errors.Is(err, store.ErrAlreadyVoted):
		return errAlreadyVoted
	case errors.Is(err, store.ErrDuplicateEmail):
		return errDuplicateEmail
	case errors.Is(err, store.ErrUnavailable):
		return errUnavailable
	case errors.Is(err, videos.ErrStorageUnavailable):
		return errStorageDown
	case errors.As(err, &he):
		return &apiError{Status: he.Code, Message: httpMessage(he.Code)}
	}
	return nil
}

// httpMessage is the catalogue message for a bare HTTP status.
func httpMessage(status int) string {
	switch status {
	case http.StatusRequestedRangeNotSatisfiable:
		return "El rango solicitado no es válido para este archivo."
	case http.StatusPreconditionFailed:
		return "La condición previa de la solicitud no se cumple."
	case http.StatusNotFound:
		return "El recurso solicitado no existe."
	case http.StatusMethodNotAllowed:
		return "Método no permitido para este recurso."
	case http.StatusRequestEntityTooLarge:
		return "La solicitud es demasiado grande."
	case http.StatusUnauthorized:
		return errUnauthorized.Message
	case http.StatusServiceUnavailable:
		return "El servicio no está disponible en este momento."
	}
	if status >= 500 {
		return "Error interno del servidor."
	}
	return "La solicitud no se puede atender."
}

// WriteStatus writes the JSON error of a bare HTTP status with its catalogue
// message, for handlers outside the API's router (the web page's files).
func WriteStatus(w http.ResponseWriter, status int) {
	writeError(w, &apiError{Status: status, Message: httpMessage(status)})
}

// writeError is the one writer of the JSON error body.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	switch e.Status {
	case http.StatusUnauthorized:
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="anb"`)
	case http.StatusServiceUnavailable:
		h.Set(echo.HeaderRetryAfter, retryAfterSeconds)
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e)
}

// errorHandler writes every error as {"message": ..., "details": ...}.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		ae := toAPIError(err)
		if ae == nil {
			log.ErrorContext(c.Request().Context(), "request failed", "error", err,
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "path", c.Path())
			ae = &apiError{Status: http.StatusInternalServerError, Message: httpMessage(http.StatusInternalServerError)}
		}
		if c.Request().Method == http.MethodHead {
			c.Response().Writer = headOnly{c.Response().Writer}
		}
		writeError(c.Response(), ae)
	}
}

// headOnly drops the body of an answer to HEAD.
type headOnly struct{ http.ResponseWriter }

func (headOnly) Write(b []byte) (int, error) { return len(b), nil }
