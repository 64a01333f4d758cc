// Package mail sends the platform's e-mail (verification links) through
// Amazon SES on AWS or an SMTP server, or writes it to a local outbox
// folder when neither is configured.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is one e-mail: a plain-text body and the same in HTML.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Bytes renders m as an RFC 5322 message (multipart/alternative,
// quoted-printable UTF-8), as SMTP and the outbox carry it.
func (m Message) Bytes(from string) ([]byte, error) {
	if _, err := mail.ParseAddress(m.To); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", m.To, err)
	}
	var boundary [12]byte
	rand.Read(boundary[:])
	b := hex.EncodeToString(boundary[:])
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n",
		from, m.To, mime.QEncoding.Encode("utf-8", m.Subject), time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&buf, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", b)
	for _, part := range []struct{ kind, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		fmt.Fprintf(&buf, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", b, part.kind)
		w := quotedprintable.NewWriter(&buf)
		if _, err := w.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		w.Close()
		buf.WriteString("\r\n")
	}
	fmt.Fprintf(&buf, "--%s--\r\n", b)
	return buf.Bytes(), nil
}

// Outbox writes each message to a file of Dir (local mode without a mail
// server): the verification link is there to open, and never in the log.
// Beside the .eml (what a mail client opens) goes a .txt of the plain-text
// body as written, whose link a person or a script can copy whole (the
// .eml's quoted-printable encoding wraps long lines).
type Outbox struct {
	Dir  string
	From string
}

// Send writes m to <Dir>/<time>-<recipient>.eml and .txt.
func (o Outbox) Send(_ context.Context, m Message) error {
	raw, err := m.Bytes(o.From)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	name := filepath.Join(o.Dir, time.Now().UTC().Format("20060102T150405.000000000")+"-"+strings.NewReplacer("/", "_", "\\", "_").Replace(m.To))
	text := fmt.Sprintf("To: %s\nSubject: %s\n\n%s", m.To, m.Subject, m.Text)
	if err := os.WriteFile(name+".txt", []byte(text), 0o600); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := os.WriteFile(name+".eml", raw, 0o600); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}
