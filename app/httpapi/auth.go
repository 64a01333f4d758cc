package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/mail"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/store"
	"github.com/labstack/echo/v4"
)

const userIDKey = "user_id"

// bearer returns the token of the Authorization header. Tokens are never
// read from the URL (see refuseTokenInURL); <video src> links are signed.
func bearer(c echo.Context) string {
	if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "\x00invalid"
		}
		return strings.TrimSpace(token)
	}
	return ""
}

func (a *api) authenticate(c echo.Context) (bool, error) {
	token := bearer(c)
	if token == "" {
		return false, nil
	}
	id, err := a.Tokens.Verify(token)
	if err != nil {
		return false, errTokenInvalid
	}
	c.Set(userIDKey, id)
	return true, nil
}

func (a *api) requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ok, err := a.authenticate(c)
		if err != nil {
			return err
		}
		if !ok {
			return errUnauthorized
		}
		return next(c)
	}
}

// optionalAuth identifies the caller when a token is sent; a token that is
// sent but invalid is still refused, so an expired session is noticed.
func (a *api) optionalAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := a.authenticate(c); err != nil {
			return err
		}
		return next(c)
	}
}

// userID is the authenticated caller, 0 for an anonymous one.
func userID(c echo.Context) int64 {
	id, _ := c.Get(userIDKey).(int64)
	return id
}

const maxJSONBody = 64 << 10

// decodeJSON reads a small JSON object into dst.
func decodeJSON(c echo.Context, dst any) error {
	body := http.MaxBytesReader(c.Response(), c.Request().Body, maxJSONBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(dst); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return badRequest("El cuerpo de la solicitud es demasiado grande.", nil)
		}
		if errors.Is(err, io.EOF) {
			return badRequest("El cuerpo de la solicitud está vacío; se esperaba un objeto JSON.", nil)
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return badRequest("Datos inválidos.", map[string]string{typeErr.Field: "Debe ser un texto."})
		}
		return badRequest("El cuerpo de la solicitud no es un JSON válido.", nil)
	}
	if dec.More() {
		return badRequest("El cuerpo de la solicitud debe contener un único objeto JSON.", nil)
	}
	if !storableFields(reflect.ValueOf(dst).Elem()) {
		return badRequest(msgBadText, nil)
	}
	return nil
}

// msgBadText refuses text the database cannot store.
const msgBadText = "El texto contiene caracteres no válidos (bytes nulos o UTF-8 inválido)."

// storableText tells whether PostgreSQL can store s: valid UTF-8 without NUL
// (which JSON can carry as \u0000 but a TEXT column refuses).
func storableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// storableFields checks every string field of a decoded request.
func storableFields(v reflect.Value) bool {
	if v.Kind() != reflect.Struct {
		return true
	}
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.String && !storableText(f.String()) {
			return false
		}
	}
	return true
}

type signupRequest struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Password1 string `json:"password1"`
	Password2 string `json:"password2"`
	City      string `json:"city"`
	Country   string `json:"country"`
}

const (
	msgRequired     = "Este campo es obligatorio."
	maxNameLength   = 100
	maxEmailLength  = 254
	minPasswordLen  = 8
	maxPasswordSize = 72 // bcrypt ignores anything longer
)

// validate trims the text fields and returns what is wrong with each.
func (r *signupRequest) validate() map[string]string {
	problems := map[string]string{}
	for _, f := range []struct {
		name  string
		value *string
	}{{"first_name", &r.FirstName}, {"last_name", &r.LastName}, {"city", &r.City}, {"country", &r.Country}} {
		*f.value = strings.TrimSpace(*f.value)
		switch {
		case *f.value == "":
			problems[f.name] = msgRequired
		case utf8.RuneCountInString(*f.value) > maxNameLength:
			problems[f.name] = "No puede superar 100 caracteres."
		}
	}
	r.Email = strings.TrimSpace(r.Email)
	if r.Email == "" {
		problems["email"] = msgRequired
	} else if !validEmail(r.Email) {
		problems["email"] = "El correo electrónico no es válido."
	}
	switch {
	case r.Password1 == "":
		problems["password1"] = msgRequired
	case utf8.RuneCountInString(r.Password1) < minPasswordLen:
		problems["password1"] = "La contraseña debe tener al menos 8 caracteres."
	case len(r.Password1) > maxPasswordSize:
		problems["password1"] = "La contraseña no puede superar 72 bytes."
	}
	if r.Password2 == "" {
		problems["password2"] = msgRequired
	} else if r.Password1 != "" && r.Password1 != r.Password2 {
		problems["password2"] = "Las contraseñas no coinciden."
	}
	return problems
}

func validEmail(s string) bool {
	if len(s) > maxEmailLength {
		return false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return strings.Contains(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.ContainsAny(s, " \t")
}

func (a *api) signup(c echo.Context) error {
	var req signupRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if problems := req.validate(); len(problems) > 0 {
		msg := "Datos de registro inválidos."
		if len(problems) == 1 {
			for _, p := range problems {
				if p != msgRequired {
					msg = p
				}
			}
		}
		return badRequest(msg, problems)
	}
	// Throttled before bcrypt: a refused signup costs two primary-key upserts.
	address := a.clientAddress(c.Request())
	if err := a.guardSignup(c, address); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.Password1)
	if err != nil {
		return err
	}
	u := store.User{FirstName: req.FirstName, LastName: req.LastName, Email: req.Email,
		PasswordHash: hash, City: req.City, Country: req.Country, SignupAddress: a.auditHash("address", addressGroup(address))}
	if err := a.Accounts.CreateUser(c.Request().Context(), &u); err != nil {
		return err
	}
	// The account exists whatever happens to its message: a failure here is
	// logged, and the owner asks for another message from the profile.
	if err := a.sendVerification(c, u); err != nil {
		a.Log.ErrorContext(c.Request().Context(), "verification link not saved", "user_id", u.ID, "error", err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"message": "Usuario creado exitosamente.", "user_id": u.ID})
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (a *api) login(c echo.Context) error {
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	problems := map[string]string{}
	if strings.TrimSpace(req.Email) == "" {
		problems["email"] = msgRequired
	}
	if req.Password == "" {
		problems["password"] = msgRequired
	}
	if len(problems) > 0 {
		return badRequest("Se requieren el correo electrónico y la contraseña.", problems)
	}
	guard, err := a.guardLogin(c, req.Email)
	if err != nil {
		return err
	}
	u, err := a.Accounts.UserByEmail(c.Request().Context(), req.Email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if !auth.CheckPassword(u.PasswordHash, req.Password) {
		if err := guard.failed(); err != nil {
			return err
		}
		return errBadCredentials
	}
	if err := guard.succeeded(); err != nil {
		return err
	}
	token, err := a.Tokens.Issue(u.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"access_token": token, "token_type": "Bearer", "expires_in": int(a.Tokens.TTL().Seconds()),
	})
}
