package mail_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/mail"
	"github.com/anb/risingstars/app/mail/smtptest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

var msg = mail.Message{To: "ana@example.com", Subject: "Confirma tu correo en ANB Rising Stars",
	Text: "Abre https://anb.example/api/auth/verify?token=abc_DEF-123 — válido 48 horas.",
	HTML: `<p><a href="https://anb.example/api/auth/verify?token=abc_DEF-123">Confirmar mi correo</a></p>`}

// The SMTP sender delivers to a real SMTP server, and the message reads
// back intact (UTF-8 subject and bodies, the link whole).
func TestSMTPDeliversAReadableMessage(t *testing.T) {
	srv := smtptest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := (mail.SMTP{Addr: srv.Addr, From: "ANB Rising Stars <votos@anb.test>"}).Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, "ana@example.com", 5*time.Second)
	subject, parts := got.Parts(t)
	if got.From != "votos@anb.test" || subject != msg.Subject || parts["text/plain"] != msg.Text || parts["text/html"] != msg.HTML {
		t.Fatalf("received from %q subject %q parts %q", got.From, subject, parts)
	}
	if link := got.Link(t); link != "https://anb.example/api/auth/verify?token=abc_DEF-123" {
		t.Errorf("link %q", link)
	}
	if err := (mail.SMTP{Addr: "127.0.0.1:1", From: "votos@anb.test"}).Send(ctx, msg); err == nil {
		t.Error("sending to a closed port succeeded")
	}
}

func TestOutboxWritesAMessageToOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	if err := (mail.Outbox{Dir: dir, From: "votos@anb.test"}).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*-ana@example.com.eml"))
	if len(files) != 1 {
		t.Fatalf("outbox holds %v", files)
	}
	b, _ := os.ReadFile(strings.TrimSuffix(files[0], ".eml") + ".txt")
	if !strings.Contains(string(b), "https://anb.example/api/auth/verify?token=abc_DEF-123 ") || !strings.Contains(string(b), "Subject: "+msg.Subject) {
		t.Errorf("the link is not whole in the text file:\n%s", b)
	}
	if err := (mail.Outbox{Dir: dir, From: "votos@anb.test"}).Send(context.Background(), mail.Message{To: "not an address"}); err == nil {
		t.Error("a bad recipient was accepted")
	}
}

// The SES sender speaks the SES v2 API: a stand-in endpoint (as
// AWS_ENDPOINT_URL_SESV2 points the SDK at) reads the request the SDK
// signed and sent, and answers as SES does.
func TestSESSendsTheSESv2Request(t *testing.T) {
	var got struct {
		FromEmailAddress string
		Destination      struct{ ToAddresses []string }
		Content          struct {
			Simple struct {
				Subject struct{ Data, Charset string }
				Body    struct {
					Text, Html struct{ Data, Charset string }
				}
			}
		}
	}
	var path, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, auth = r.URL.Path, r.Header.Get("Authorization")
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"MessageId":"0100018c-test"}`))
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), BaseEndpoint: aws.String(srv.URL)}
	ses := mail.SES{Client: sesv2.NewFromConfig(cfg), From: "ANB <votos@anb.example.com>"}
	if err := ses.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	s := got.Content.Simple
	if path != "/v2/email/outbound-emails" || !strings.Contains(auth, "/ses/aws4_request") || got.FromEmailAddress != ses.From ||
		len(got.Destination.ToAddresses) != 1 || got.Destination.ToAddresses[0] != msg.To || s.Subject.Data != msg.Subject ||
		s.Body.Text.Data != msg.Text || s.Body.Html.Data != msg.HTML || s.Body.Text.Charset != "UTF-8" {
		t.Fatalf("SES request: %s %q %+v", path, auth, got)
	}
}
