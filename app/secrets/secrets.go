// Package secrets reads the platform's secrets from AWS Secrets Manager once
// at start: the database credentials RDS generates and the JWT signing key.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// API is the part of the Secrets Manager client used here.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Manager reads secrets by ARN (or name).
type Manager struct{ client API }

// New reads through client.
func New(client API) *Manager { return &Manager{client: client} }

// NewFromConfig uses the SDK configuration; AWS_ENDPOINT_URL_SECRETS_MANAGER
// points it at another endpoint.
func NewFromConfig(cfg aws.Config) *Manager { return New(secretsmanager.NewFromConfig(cfg)) }

// MinJWTKeyLength matches the rule for ANB_JWT_SECRET.
const MinJWTKeyLength = 32

func (m *Manager) value(ctx context.Context, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := m.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", id, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %s has no text value (binary secrets are not supported)", id)
	}
	return *out.SecretString, nil
}

// DatabaseURL reads the RDS-generated secret at id and returns the
// PostgreSQL URL it describes (see ParseDatabaseSecret).
func (m *Manager) DatabaseURL(ctx context.Context, id string) (string, error) {
	v, err := m.value(ctx, id)
	if err != nil {
		return "", err
	}
	u, err := ParseDatabaseSecret(v)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", id, err)
	}
	return u, nil
}

// JWTKey reads the token signing key at id (see ParseJWTSecret).
func (m *Manager) JWTKey(ctx context.Context, id string) (string, error) {
	v, err := m.value(ctx, id)
	if err != nil {
		return "", err
	}
	k, err := ParseJWTSecret(v)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", id, err)
	}
	return k, nil
}

// databaseSecret is the JSON document RDS keeps in Secrets Manager for a
// generated master password.
type databaseSecret struct {
	Engine   string          `json:"engine"`
	Host     string          `json:"host"`
	Port     json.RawMessage `json:"port"` // a number from RDS, a string when written by hand
	Username string          `json:"username"`
	Password string          `json:"password"`
	DBName   string          `json:"dbname"`
}

// ParseDatabaseSecret turns the RDS secret (host, port, username, password,
// dbname and optionally engine) into a postgres:// URL. The connection is
// encrypted (sslmode=require) unless the host is this machine (the local
// cluster), where PostgreSQL listens without TLS. Without dbname it connects
// to "postgres", the database every PostgreSQL server has.
func ParseDatabaseSecret(s string) (string, error) {
	var sec databaseSecret
	if err := json.Unmarshal([]byte(s), &sec); err != nil {
		return "", errors.New("the database secret is not the JSON document RDS generates (host, port, username, password, dbname)")
	}
	if sec.Engine != "" && !strings.HasPrefix(sec.Engine, "postgres") {
		return "", fmt.Errorf("the database secret is for engine %q; only PostgreSQL is supported", sec.Engine)
	}
	var missing []string
	for _, f := range [][2]string{{"host", sec.Host}, {"username", sec.Username}, {"password", sec.Password}} {
		if f[1] == "" {
			missing = append(missing, f[0])
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("the database secret lacks %s", strings.Join(missing, ", "))
	}
	port := 5432
	if len(sec.Port) > 0 {
		var err error
		if port, err = strconv.Atoi(strings.Trim(string(sec.Port), `"`)); err != nil || port < 1 || port > 65535 {
			return "", fmt.Errorf("the database secret has an invalid port %s", sec.Port)
		}
	}
	if sec.DBName == "" {
		sec.DBName = "postgres"
	}
	sslmode := "require"
	if loopback(sec.Host) {
		sslmode = "disable"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(sec.Username, sec.Password),
		Host:     net.JoinHostPort(sec.Host, strconv.Itoa(port)),
		Path:     "/" + sec.DBName,
		RawQuery: "sslmode=" + sslmode,
	}
	return u.String(), nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseJWTSecret accepts the key as the whole secret value (what a
// generated Secrets Manager secret holds) or, for a JSON object secret, as
// its "secret" field. Either way it must have at least MinJWTKeyLength
// characters.
func ParseJWTSecret(s string) (string, error) {
	key := s
	if trimmed := strings.TrimSpace(s); strings.HasPrefix(trimmed, "{") {
		var doc struct {
			Secret string `json:"secret"`
		}
		if err := json.Unmarshal([]byte(trimmed), &doc); err != nil || doc.Secret == "" {
			return "", errors.New(`the JWT secret is a JSON object without a "secret" field`)
		}
		key = doc.Secret
	}
	if len(key) < MinJWTKeyLength {
		return "", fmt.Errorf("the JWT signing key must have at least %d characters, it has %d", MinJWTKeyLength, len(key))
	}
	return key, nil
}
