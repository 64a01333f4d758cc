package secrets_test

import (
	"context"
	"strings"
	"testing"

	"github.com/anb/risingstars/app/secrets"
	"github.com/anb/risingstars/app/secrets/secretstest"
)

// rdsSecret is what RDS writes for a generated master password.
const rdsSecret = `{"dbClusterIdentifier":"","password":"p@ss:w/rd?","engine":"postgres","port":5432,
"dbInstanceIdentifier":"anb-db","host":"anb-db.abc123.us-east-1.rds.amazonaws.com","username":"anb","dbname":"anb"}`

func TestReadsBothSecretsThroughTheSecretsManagerProtocol(t *testing.T) {
	jwtKey := strings.Repeat("k", 64)
	m := secrets.New(secretstest.New(t, map[string]string{
		secretstest.ARN("anb-db"):  rdsSecret,
		secretstest.ARN("anb-jwt"): jwtKey,
	}))
	ctx := context.Background()
	dsn, err := m.DatabaseURL(ctx, secretstest.ARN("anb-db"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://anb:p%40ss%3Aw%2Frd%3F@anb-db.abc123.us-east-1.rds.amazonaws.com:5432/anb?sslmode=require"; dsn != want {
		t.Errorf("database URL = %s, want %s", dsn, want)
	}
	key, err := m.JWTKey(ctx, secretstest.ARN("anb-jwt"))
	if err != nil || key != jwtKey {
		t.Errorf("JWT key = %q, %v", key, err)
	}
	if _, err := m.JWTKey(ctx, secretstest.ARN("missing")); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("missing secret: %v, want the service's ResourceNotFoundException", err)
	}
}

func TestParseDatabaseSecret(t *testing.T) {
	for _, tc := range []struct {
		name, secret, want, wantErr string
	}{
		{"rds", rdsSecret, "postgres://anb:p%40ss%3Aw%2Frd%3F@anb-db.abc123.us-east-1.rds.amazonaws.com:5432/anb?sslmode=require", ""},
		{"loopback host has no TLS", `{"host":"127.0.0.1","port":"5433","username":"u","password":"p","dbname":"d"}`,
			"postgres://u:p@127.0.0.1:5433/d?sslmode=disable", ""},
		{"localhost", `{"host":"localhost","username":"u","password":"p"}`, "postgres://u:p@localhost:5432/postgres?sslmode=disable", ""},
		{"defaults", `{"host":"db.internal","username":"u","password":"p"}`, "postgres://u:p@db.internal:5432/postgres?sslmode=require", ""},
		{"not json", "hunter2", "", "not the JSON document"},
		{"missing fields", `{"host":"","username":"u"}`, "", "lacks host, password"},
		{"other engine", `{"engine":"mysql","host":"h","username":"u","password":"p"}`, "", "only PostgreSQL"},
		{"bad port", `{"host":"h","port":70000,"username":"u","password":"p"}`, "", "invalid port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secrets.ParseDatabaseSecret(tc.secret)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), `"p"`) {
					t.Fatalf("error quotes the password: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseJWTSecret(t *testing.T) {
	long := strings.Repeat("a", 40)
	for _, tc := range []struct {
		name, secret, want string
		ok                 bool
	}{
		{"plain generated string", long, long, true},
		{"json object", `{"secret":"` + long + `"}`, long, true},
		{"too short", "short", "", false},
		{"json without the field", `{"key":"` + long + `"}`, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secrets.ParseJWTSecret(tc.secret)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("= %q, %v", got, err)
			}
		})
	}
}
