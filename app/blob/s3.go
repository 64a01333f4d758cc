package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// PresignTTL is how long a redirect to an S3 object stays valid: enough to
// start playing a video, short enough that a shared link soon stops working.
const PresignTTL = 15 * time.Minute

// Upload buffers: a part is held in memory while it is sent, so one upload
// uses at most about (uploadConcurrency+1) x uploadPartSize, whatever the
// file size (a web node receives several 100 MB uploads at once).
const (
	uploadPartSize    = 8 << 20
	uploadConcurrency = 3
)

// S3 stores objects in an S3 bucket.
type S3 struct {
	client   *s3.Client
	presign  *s3.PresignClient
	uploader *transfermanager.Client
	bucket   string
}

// NewS3 uses bucket with the SDK configuration (region, credentials, and a
// custom endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL). With a
// custom endpoint it addresses the bucket in the path, as S3-compatible
// servers expect, instead of in the host name.
func NewS3(cfg aws.Config, bucket string) *S3 {
	pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		// Objects uploaded in parts carry no whole-object checksum to check;
		// the SDK would log that on every read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &S3{
		client: client,
		presign: s3.NewPresignClient(client, s3.WithPresignExpires(PresignTTL),
			// A browser follows the URL; it does not validate checksums.
			s3.WithPresignClientFromClientOptions(func(o *s3.Options) {
				o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
			})),
		uploader: transfermanager.New(client, func(o *transfermanager.Options) {
			o.PartSizeBytes = uploadPartSize
			o.MultipartUploadThreshold = uploadPartSize
			o.Concurrency = uploadConcurrency
			// Abort a failed multipart upload even when the request that
			// carried it was cancelled, so no parts are left behind.
			o.FailTimeout = 30 * time.Second
		}),
		bucket: bucket,
	}
}

// PutFile streams the file to S3, in parts when it is large; the object
// appears only when the whole upload completes.
func (s *S3) PutFile(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = s.uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      &s.bucket,
		Key:         &key,
		Body:        f,
		ContentType: aws.String(ContentType(key)),
	})
	if err != nil {
		return fmt.Errorf("store %s in S3: %w", key, err)
	}
	return nil
}

// Get opens the object. A missing object is ErrNotFound; S3 says so (404
// NoSuchKey) only to a role that may list the key's prefix, and answers 403
// otherwise, which like any refusal, 5xx or lost connection is an error
// callers treat as an outage.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if notFound(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("read %s from S3: %w", key, err)
	}
	return out.Body, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete %s from S3: %w", key, err)
	}
	return nil
}

// Serve redirects to a presigned GET of the object, so video bytes flow
// between S3 and the browser, never through the web tier. The API calls it
// only for files its database says exist, so it does not ask S3 first.
// A HEAD gets a presigned HEAD: S3 signs the method, so a HEAD of a
// presigned GET would be refused.
func (s *S3) Serve(w http.ResponseWriter, r *http.Request, key string) error {
	var req *v4.PresignedHTTPRequest
	var err error
	if r.Method == http.MethodHead {
		req, err = s.presign.PresignHeadObject(r.Context(), &s3.HeadObjectInput{
			Bucket:              &s.bucket,
			Key:                 &key,
			ResponseContentType: aws.String(ContentType(key)),
		})
	} else {
		req, err = s.presign.PresignGetObject(r.Context(), &s3.GetObjectInput{
			Bucket:              &s.bucket,
			Key:                 &key,
			ResponseContentType: aws.String(ContentType(key)),
		})
	}
	if err != nil {
		return fmt.Errorf("presign %s: %w", key, err)
	}
	// The browser may reuse the redirect while the URL is still valid.
	w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int((PresignTTL/3).Seconds())))
	http.Redirect(w, r, req.URL, http.StatusFound)
	return nil
}

// Ping asks S3 about the bucket. Any answer below 500 means S3 is reachable,
// even a refusal (a role allowed to read objects but not to list the bucket
// gets 403 here); only no answer or a server error is an outage.
func (s *S3) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	var answer interface{ HTTPStatusCode() int } // 0 when no response came
	if err == nil || errors.As(err, &answer) && answer.HTTPStatusCode() > 0 && answer.HTTPStatusCode() < 500 {
		return nil
	}
	return fmt.Errorf("S3 bucket %s: %w", s.bucket, err)
}

func notFound(err error) bool {
	var noKey *types.NoSuchKey
	var apiErr smithy.APIError
	return errors.As(err, &noKey) || errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NotFound" || apiErr.ErrorCode() == "NoSuchKey")
}
