package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// StorageProps configures the buckets. Zero values mean the documented default.
type StorageProps struct {
	// RemovalPolicy of both buckets. Default RETAIN: a `cdk destroy` never takes
	// the players' videos with it.
	RemovalPolicy awscdk.RemovalPolicy
	// AutoDeleteObjects empties the buckets when the stack deletes them (a
	// Lambda-backed custom resource). Default: with RemovalPolicy DESTROY.
	AutoDeleteObjects *bool
	// AbortIncompleteUploadsAfterDays cleans up unfinished multipart uploads
	// (a client that dropped mid-upload). Default 1.
	AbortIncompleteUploadsAfterDays float64
	// LogRetentionDays is how long ALB and S3 access logs are kept. Default 90.
	LogRetentionDays float64
}

// Storage is the private bucket for originals, processed videos and posters
// (keys originals/, processed/, posters/), plus a bucket for access logs.
type Storage interface {
	cdkconstructs.Construct
	Bucket() awss3.Bucket
	LogsBucket() awss3.Bucket
}

type storage struct {
	cdkconstructs.Construct
	bucket, logs awss3.Bucket
}

// NewStorage creates the buckets.
func NewStorage(scope cdkconstructs.Construct, id string, props *StorageProps) Storage {
	p := StorageProps{}
	if props != nil {
		p = *props
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.AbortIncompleteUploadsAfterDays == 0 {
		p.AbortIncompleteUploadsAfterDays = 1
	}
	if p.LogRetentionDays == 0 {
		p.LogRetentionDays = 90
	}
	if p.AutoDeleteObjects == nil {
		p.AutoDeleteObjects = jsii.Bool(p.RemovalPolicy == awscdk.RemovalPolicy_DESTROY)
	}
	autoDelete := *p.AutoDeleteObjects

	this := &storage{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	// ALB access logs only support SSE-S3, so both buckets use it.
	logs := awss3.NewBucket(this, jsii.String("Logs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     p.RemovalPolicy,
		AutoDeleteObjects: jsii.Bool(autoDelete),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Expiration: awscdk.Duration_Days(jsii.Number(p.LogRetentionDays)),
		}},
	})

	bucket := awss3.NewBucket(this, jsii.String("Media"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:          p.RemovalPolicy,
		AutoDeleteObjects:      jsii.Bool(autoDelete),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("s3/media/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("abort-incomplete-multipart-uploads"),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(p.AbortIncompleteUploadsAfterDays)),
		}},
	})
	this.bucket, this.logs = bucket, logs
	return this
}

func (s *storage) Bucket() awss3.Bucket     { return s.bucket }
func (s *storage) LogsBucket() awss3.Bucket { return s.logs }
