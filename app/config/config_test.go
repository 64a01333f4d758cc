package config

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/anb/risingstars/app/nodespec"
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
	// With the vote-integrity resources the stack sets, the web node sends
	// through SES, believes the VPC's X-Forwarded-For and counts by rule.
	r.TrustedProxies, r.MailFrom, r.PublicURL, r.VoteCounting = "10.0.0.0/16", "ANB <votos@anb.example.com>", "https://anb.example.com", "verified"
	c, err := FromEnviron(nodespec.Environ(nodespec.WebEnv(r)))
	if err != nil {
		t.Fatalf("web environment with vote-integrity settings refused: %v", err)
	}
	if c.Mail != "ses" || c.MailFrom != r.MailFrom || c.PublicURL != r.PublicURL || c.VoteCounting != "verified" ||
		!slices.Equal(c.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}) {
		t.Errorf("web config = %+v", c)
	}
}

func TestVoteIntegrityDefaultsAndChecks(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !slices.Equal(c.TrustedProxies, loopback) || c.VoteCounting != "all" || c.Mail != "outbox" ||
		c.SignupsPerAddress != 10 || c.SignupsTotal != 1000 || c.SignupWindow != time.Hour ||
		c.LoginFailuresPerAccountAddress != 10 || c.LoginFailuresPerAddress != 30 || c.LoginFailuresPerAccount != 100 {
		t.Fatalf("defaults = %+v", c)
	}
	c, err = Load(env(map[string]string{"ANB_SMTP_ADDR": "127.0.0.1:2525", "ANB_TRUSTED_PROXIES": "10.0.0.0/16, 192.0.2.7"}))
	if err != nil || c.Mail != "smtp" || !slices.Equal(c.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("192.0.2.7/32")}) {
		t.Fatalf("smtp + proxies = %+v, %v", c, err)
	}
	_, err = Load(env(map[string]string{"ANB_TRUSTED_PROXIES": "10.0.0.0/33", "ANB_VOTE_COUNTING": "some", "ANB_MAIL": "ses",
		"ANB_SIGNUPS_PER_ADDRESS": "0", "ANB_PUBLIC_URL": "anb.example.com"}))
	for _, name := range []string{"ANB_TRUSTED_PROXIES", "ANB_VOTE_COUNTING", "ANB_MAIL_FROM", "ANB_SIGNUPS_PER_ADDRESS", "ANB_PUBLIC_URL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
