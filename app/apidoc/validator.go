package apidoc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Load parses the embedded document and checks that it is a valid OpenAPI 3
// document whose examples match their schemas.
func Load(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(specJSON)
	if err != nil {
		return nil, fmt.Errorf("parse openapi.json: %w", err)
	}
	if err := doc.Validate(ctx, openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("validate openapi.json: %w", err)
	}
	return doc, nil
}

// Errors a Validator reports, wrapped in a *ValidationError; test with errors.Is.
var (
	// ErrUndocumentedRoute: the method and path match no operation of the document.
	ErrUndocumentedRoute = errors.New("route not in the OpenAPI document")
	// ErrAcceptedInvalidRequest: the request breaks the document, yet the server accepted it.
	ErrAcceptedInvalidRequest = errors.New("server accepted a request that breaks the OpenAPI document")
	// ErrResponseMismatch: the response status, headers or body are not what the document says.
	ErrResponseMismatch = errors.New("response does not match the OpenAPI document")
)

// ValidationError tells which exchange broke the document and how.
type ValidationError struct {
	Method, Path string
	Status       int
	Kind         error
	Err          error
	Body         string // start of the response body, to debug
}

func (e *ValidationError) Error() string {
	msg := fmt.Sprintf("openapi: %s %s -> %d: %v: %v", e.Method, e.Path, e.Status, e.Kind, e.Err)
	if e.Body != "" {
		msg += "; response body: " + e.Body
	}
	return msg
}

// Unwrap exposes both the kind (ErrUndocumentedRoute, ...) and the cause.
func (e *ValidationError) Unwrap() []error { return []error{e.Kind, e.Err} }

// Validator checks HTTP exchanges against the embedded OpenAPI document. It is
// safe for concurrent use.
//
// Scope: paths under /api/ and /health, i.e. the REST API. Other paths (the web
// page, a presigned S3 URL a media redirect leads to) are outside the document
// and pass unchecked.
//
// Requests: the method and path must be documented. A request that breaks the
// document (bad params, body, content type) is fine when the server rejects it
// with a 4xx — tests send such requests on purpose — and an error when the
// server accepts it. Authentication is not checked (the server does that).
//
// Responses: the status must be documented for the operation, and headers and
// body must match its schema. Multipart uploads are checked field by field
// (the file is not decoded); binary bodies (video/*, image/*) by content type.
type Validator struct {
	router routers.Router
	opts   *openapi3filter.Options
}

var (
	uuidPattern  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	emailPattern = regexp.MustCompile(openapi3.FormatOfStringForEmail)
)

// NewValidator loads the embedded document and builds a Validator.
func NewValidator() (*Validator, error) {
	doc, err := Load(context.Background())
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &Validator{
		router: router,
		opts: &openapi3filter.Options{
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
			IncludeResponseStatus: true,
			MultiError:            true,
			// Defaults would be written into the caller's request; it must go out as sent.
			SkipSettingDefaults: true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{
				// The path and reason are enough; the body is quoted once in the error.
				openapi3.DisableSchemaErrorDetails(),
				openapi3.WithStringFormatValidator("uuid", openapi3.NewCallbackValidator(func(s string) error {
					if !uuidPattern.MatchString(s) {
						return errors.New("not a UUID")
					}
					return nil
				})),
				openapi3.WithStringFormatValidator("email", openapi3.NewCallbackValidator(func(s string) error {
					if !emailPattern.MatchString(s) {
						return errors.New("not an email address")
					}
					return nil
				})),
			},
		},
	}, nil
}

// inScope tells whether the document describes this path.
func inScope(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/health"
}

// Check validates one exchange. reqBody and respBody are the full bodies
// (nil when empty); req.Body and resp.Body are not read. It returns nil or a
// *ValidationError.
func (v *Validator) Check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	if resp == nil {
		return errors.New("apidoc: Check needs the response")
	}
	b := requestBody{raw: reqBody}
	if boundary, ok := multipartBoundary(req.Header); ok {
		b = requestBody{form: parsedForm(bytes.NewReader(reqBody), boundary)}
	}
	return v.check(req, b, resp, respBody)
}

// requestBody is what the validator knows of a request body: the bytes, or
// for multipart/form-data the fields, parsed while the body streamed out.
type requestBody struct {
	raw  []byte
	form *formParse
}

func (v *Validator) check(req *http.Request, body requestBody, resp *http.Response, respBody []byte) error {
	if !inScope(req.URL.Path) {
		return nil
	}
	verr := &ValidationError{Method: req.Method, Path: req.URL.RequestURI(), Status: resp.StatusCode}
	fail := func(kind, err error) error {
		verr.Kind, verr.Err = kind, err
		if kind == ErrResponseMismatch {
			verr.Body = snippet(resp.Header.Get("Content-Type"), respBody)
		}
		return verr
	}

	route, pathParams, err := v.router.FindRoute(req)
	if err != nil {
		return fail(ErrUndocumentedRoute, err)
	}
	ctx := req.Context()
	rvi := &openapi3filter.RequestValidationInput{
		Request:    withBody(req, body.raw),
		PathParams: pathParams,
		Route:      route,
		Options:    v.opts,
	}
	// A request that breaks the document must be refused with a 4xx; a 5xx
	// is caught below, as no operation documents a 500.
	if resp.StatusCode < 400 {
		if err := v.checkRequest(ctx, rvi, body); err != nil {
			return fail(ErrAcceptedInvalidRequest, err)
		}
	}
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: rvi,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                v.opts,
	})
	if err != nil {
		return fail(ErrResponseMismatch, err)
	}
	return nil
}

// checkRequest validates params, security and body. kin-openapi would decode
// every byte of an uploaded file into a string; multipart bodies are checked
// here instead: the content type, then each text field against its schema
// with the file parts standing in as placeholders.
func (v *Validator) checkRequest(ctx context.Context, rvi *openapi3filter.RequestValidationInput, body requestBody) error {
	rb := rvi.Route.Operation.RequestBody
	if body.form == nil || rb == nil || rb.Value == nil || rb.Value.Content.Get("multipart/form-data") == nil {
		return openapi3filter.ValidateRequest(ctx, rvi)
	}
	opts := *v.opts
	opts.ExcludeRequestBody = true
	noBody := *rvi
	noBody.Options = &opts
	if err := openapi3filter.ValidateRequest(ctx, &noBody); err != nil {
		return err
	}
	schema := rb.Value.Content.Get("multipart/form-data").Schema
	if schema == nil || schema.Value == nil {
		return nil
	}
	fields, err := body.form.wait()
	if err != nil {
		return fmt.Errorf("multipart body: %w", err)
	}
	visit := append([]openapi3.SchemaValidationOption{openapi3.MultiErrors(), openapi3.VisitAsRequest()}, v.opts.SchemaValidationOptions...)
	if err := schema.Value.VisitJSON(formValue(fields, schema.Value), visit...); err != nil {
		return fmt.Errorf("multipart body: %w", err)
	}
	return nil
}

// withBody returns a shallow copy of req whose body reads b.
func withBody(req *http.Request, b []byte) *http.Request {
	r := req.Clone(req.Context())
	if b == nil {
		r.Body = http.NoBody
	} else {
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return r
}

func snippet(contentType string, b []byte) string {
	if !strings.Contains(contentType, "json") && !strings.HasPrefix(contentType, "text/") {
		return ""
	}
	const max = 400
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// HTML pages (the docs page, the e-mail verification page) are checked as
// text against their string schema.
func init() {
	openapi3filter.RegisterBodyDecoder("text/html", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	})
}

// binaryMedia tells whether a body is a file the document only describes by
// its content type (videos, posters): it streams through unbuffered.
func binaryMedia(contentType string) bool {
	mediaType, _, _ := mime.ParseMediaType(contentType)
	return strings.HasPrefix(mediaType, "video/") || strings.HasPrefix(mediaType, "image/") ||
		strings.HasPrefix(mediaType, "audio/") || strings.HasSuffix(mediaType, "/octet-stream")
}

// Transport wraps base (http.DefaultTransport when nil) so that every exchange
// is checked as Check does. Bodies reach the server and the caller unchanged,
// and memory stays small: a multipart upload streams out while its fields are
// parsed (file bytes discarded), a video or image response streams in
// unread; other bodies (JSON) are buffered. Each violation goes to onError
// (e.g. t.Errorf); with onError nil the round trip fails with the
// *ValidationError instead.
func (v *Validator) Transport(base http.RoundTripper, onError func(error)) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{v: v, base: base, onError: onError}
}

type transport struct {
	v       *Validator
	base    http.RoundTripper
	onError func(error)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body requestBody
	var stream *formStream
	if req.Body != nil && req.Body != http.NoBody {
		out := req.Clone(req.Context())
		if boundary, ok := multipartBoundary(req.Header); ok {
			stream = &formStream{boundary: boundary}
			out.Body = stream.tee(req.Body)
			if req.GetBody != nil {
				// A retry on a fresh connection sends the body again: parse that one.
				out.GetBody = func() (io.ReadCloser, error) {
					rc, err := req.GetBody()
					if err != nil {
						return nil, err
					}
					return stream.tee(rc), nil
				}
			}
		} else {
			raw, err := io.ReadAll(req.Body)
			req.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("read request body: %w", err)
			}
			body.raw = raw
			out.Body = io.NopCloser(bytes.NewReader(raw))
			out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
		}
		req = out
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if stream != nil {
		body.form = stream.latest()
	}
	var respBody []byte
	if !binaryMedia(resp.Header.Get("Content-Type")) {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read response body: %w", err)
		}
		respBody = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	if verr := t.v.check(req, body, resp, respBody); verr != nil {
		if t.onError == nil {
			resp.Body.Close()
			return nil, verr
		}
		t.onError(verr)
	}
	return resp, nil
}
