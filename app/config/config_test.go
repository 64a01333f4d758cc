package config

import (
	"github.com/anb/risingstars/app/nodespec"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestDefaultsServeLocalMode(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.DataDir != "data" || c.DatabaseURL != "" || c.Storage != "disk" || c.Queue != "local" ||
		c.Workers != 1 || c.JWTTTL != time.Hour || c.RankingsCacheTTL != 5*time.Second || !c.LocalQueue() {
		t.Fatalf("defaults = %+v", c)
	}
	// The README promises a 503 within 2 s of an unreachable database.
	if c.DBTimeout != 2*time.Second {
		t.Errorf("ANB_DB_TIMEOUT default = %s, want 2s", c.DBTimeout)
	}
}

func TestBadValuesAreAllReportedByName(t *testing.T) {
	_, err := Load(env(map[string]string{
		"ANB_RANKINGS_CACHE_TTL": "soon", "ANB_WORKERS": "-1", "ANB_STORAGE": "s3", "ANB_QUEUE": "kafka",
		"ANB_DATABASE_URL": "mysql://x", "ANB_JWT_SECRET": "short", "ANB_JWT_TTL": "1s",
	}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"ANB_RANKINGS_CACHE_TTL", "ANB_WORKERS", "ANB_S3_BUCKET", "ANB_QUEUE", "ANB_DATABASE_URL", "ANB_JWT_SECRET", "ANB_JWT_TTL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestZeroDisablesTheRankingsCache(t *testing.T) {
	c, err := Load(env(map[string]string{"ANB_RANKINGS_CACHE_TTL": "0", "ANB_WORKERS": "0"}))
	if err != nil || c.RankingsCacheTTL != 0 || c.Workers != 0 {
		t.Fatalf("Load = %+v, %v", c, err)
	}
}

func TestUnknownVariablesStopTheBinary(t *testing.T) {
	_, err := FromEnviron([]string{"ANB_WORKER=2", "ANB_STORAGE=disk", "ANB_CDK_ALARM_EMAIL=ops@example.com", "ANB_TEST_DATABASE_URL=x", "HOME=/root"})
	if err == nil || !strings.Contains(err.Error(), "unknown variable ANB_WORKER ") {
		t.Fatalf("a misspelt variable was accepted: %v", err)
	}
	if strings.Contains(err.Error(), "unknown variable ANB_CDK") || strings.Contains(err.Error(), "ANB_TEST_DATABASE_URL,") {
		t.Fatalf("tool variables were refused: %v", err)
	}
	c, err := FromEnviron([]string{"ANB_WORKERS=3", "ANB_DB_TIMEOUT=500ms", "ANB_CLUSTER_PORT=9090"})
	if err != nil || c.Workers != 3 || c.DBTimeout != 500*time.Millisecond {
		t.Fatalf("FromEnviron = %+v, %v", c, err)
	}
}

func TestEveryTierEnvironmentLoads(t *testing.T) {
	r := nodespec.Resources{Region: "us-east-1", Bucket: "media", QueueURL: "https://sqs/q", DeadLetterURL: "https://sqs/dlq",
		DBSecretARN: "arn:db", JWTSecretARN: "arn:jwt", LifecycleHook: nodespec.LifecycleHookName}
	for tier, env := range map[string][]nodespec.Var{"web": nodespec.WebEnv(r), "worker": nodespec.WorkerEnv(r)} {
		if _, err := FromEnviron(nodespec.Environ(env)); err != nil {
			t.Errorf("%s environment refused: %v", tier, err)
		}
	}
}
