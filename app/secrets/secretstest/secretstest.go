// Package secretstest is a Secrets Manager stand-in: an HTTP handler that
// answers GetSecretValue in the service's real JSON 1.1 protocol, so the SDK
// client runs unchanged against it (AWS_ENDPOINT_URL_SECRETS_MANAGER).
package secretstest

import (
	"encoding/json"
	"github.com/anb/risingstars/app/awstest"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// ARN is the ARN of a secret named name, in the form Secrets Manager uses.
func ARN(name string) string {
	return "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"
}

// Handler serves the secret strings in values, keyed by ARN or by name.
func Handler(values map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", "00000000-0000-0000-0000-000000000000")
		fail := func(status int, kind, msg string) {
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"__type": kind, "Message": msg})
		}
		if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
			fail(http.StatusBadRequest, "UnknownOperationException", "only secretsmanager.GetSecretValue is served here")
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			fail(http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token")
			return
		}
		var in struct{ SecretId string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SecretId == "" {
			fail(http.StatusBadRequest, "InvalidParameterException", "SecretId is required")
			return
		}
		name := in.SecretId
		if strings.HasPrefix(name, "arn:") {
			name = name[strings.LastIndex(name, ":")+1:]
			name = name[:max(0, strings.LastIndex(name, "-"))]
		}
		v, ok := values[in.SecretId]
		if !ok {
			v, ok = values[name]
		}
		if !ok {
			fail(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"ARN":           ARN(name),
			"Name":          name,
			"SecretString":  v,
			"VersionId":     "11111111-1111-1111-1111-111111111111",
			"VersionStages": []string{"AWSCURRENT"},
			"CreatedDate":   float64(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()),
		})
	})
}

// New serves values for the test, points the SDK's standard environment at
// the server (AWS_ENDPOINT_URL_SECRETS_MANAGER, region, placeholder
// credentials) and returns a client built from that environment.
func New(t testing.TB, values map[string]string) *secretsmanager.Client {
	t.Helper()
	srv := httptest.NewServer(Handler(values))
	t.Cleanup(srv.Close)
	return secretsmanager.NewFromConfig(awstest.Config(t, "SECRETS_MANAGER", srv.URL))
}
