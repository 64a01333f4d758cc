package apidoc

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// multipartBoundary returns the boundary of a multipart/form-data request.
func multipartBoundary(h http.Header) (string, bool) {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		return "", false
	}
	return params["boundary"], true
}

// formField is one part of a form: its text, or for a file its name and size.
type formField struct {
	text     string
	file     bool
	filename string
	size     int64
}

// formParse is the outcome of parsing one form, ready once done is closed.
type formParse struct {
	done   chan struct{}
	fields map[string]formField
	err    error
}

// How long a check waits for the end of a body the server already accepted.
const formWait = 30 * time.Second

var errBodyNotSent = errors.New("the body was not sent completely")

func (p *formParse) wait() (map[string]formField, error) {
	select {
	case <-p.done:
		return p.fields, p.err
	case <-time.After(formWait):
		return nil, fmt.Errorf("%w after %s", errBodyNotSent, formWait)
	}
}

// parsedForm parses a form held whole.
func parsedForm(r io.Reader, boundary string) *formParse {
	p := &formParse{done: make(chan struct{})}
	p.fields, p.err = readForm(r, boundary)
	close(p.done)
	return p
}

// readForm reads every part; file contents are counted, not kept. The first
// value of a repeated field wins.
func readForm(r io.Reader, boundary string) (map[string]formField, error) {
	if boundary == "" {
		return nil, errors.New("no boundary in Content-Type")
	}
	fields := map[string]formField{}
	mr := multipart.NewReader(r, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return fields, nil
		}
		if err != nil {
			return nil, err
		}
		var f formField
		if part.FileName() != "" {
			f.file, f.filename = true, part.FileName()
			f.size, err = io.Copy(io.Discard, part)
		} else {
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, 1<<20))
			f.text = string(b)
		}
		if err != nil {
			return nil, err
		}
		if _, dup := fields[part.FormName()]; !dup {
			fields[part.FormName()] = f
		}
	}
}

// formStream parses a form while it streams to the server: the transport
// reads the body through tee, which hands every byte to a parser goroutine.
type formStream struct {
	boundary string
	mu       sync.Mutex
	cur      *formParse
}

func (s *formStream) tee(body io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	p := &formParse{done: make(chan struct{})}
	s.mu.Lock()
	s.cur = p
	s.mu.Unlock()
	go func() {
		p.fields, p.err = readForm(pr, s.boundary)
		// Past the end of the form (or a parse error) the rest is not needed.
		pr.CloseWithError(io.ErrClosedPipe)
		close(p.done)
	}()
	return &teeBody{body: body, pw: pw}
}

func (s *formStream) latest() *formParse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

type teeBody struct {
	body io.ReadCloser
	pw   *io.PipeWriter
}

func (t *teeBody) Read(b []byte) (int, error) {
	n, err := t.body.Read(b)
	if n > 0 {
		t.pw.Write(b[:n]) // an error only means the parser has stopped
	}
	if err == io.EOF {
		t.pw.Close()
	}
	return n, err
}

// Close ends a body the transport stopped sending; the parser reports it.
func (t *teeBody) Close() error {
	t.pw.CloseWithError(errBodyNotSent)
	return t.body.Close()
}

// formValue turns the fields into the JSON value the schema describes: text
// parsed as the property's type (a value that does not parse stays a string,
// so the schema reports it), files as a placeholder string.
func formValue(fields map[string]formField, schema *openapi3.Schema) map[string]any {
	out := make(map[string]any, len(fields))
	for name, f := range fields {
		if f.file {
			out[name] = fmt.Sprintf("<file %q, %d bytes>", f.filename, f.size)
			continue
		}
		out[name] = f.text
		ref := schema.Properties[name]
		if ref == nil || ref.Value == nil || ref.Value.Type == nil {
			continue
		}
		switch t := ref.Value.Type; {
		case t.Is("boolean"):
			if b, err := strconv.ParseBool(f.text); err == nil {
				out[name] = b
			}
		case t.Is("integer"), t.Is("number"):
			if n, err := strconv.ParseFloat(f.text, 64); err == nil {
				out[name] = n
			}
		}
	}
	return out
}
