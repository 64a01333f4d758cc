// Package awstest points the AWS SDK of a test at a stand-in server, through
// the same standard environment the binaries read on AWS (endpoint, region,
// credentials), so the code under test builds its clients as in production.
package awstest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Config sets AWS_ENDPOINT_URL_<service> (e.g. "SQS", "S3",
// "SECRETS_MANAGER") to endpoint, a region and placeholder credentials for
// the rest of the test, and returns the SDK configuration they give.
func Config(t testing.TB, service, endpoint string) aws.Config {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_"+service, endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
