package storage

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Options configure an S3 bucket. Only Bucket is required; the zero values
// of the others select AWS defaults or the documented ones.
type S3Options struct {
	// Endpoint is the server's base URL (https://s3.example.fr,
	// http://127.0.0.1:7070); empty means AWS's regional endpoint.
	Endpoint string
	// Region signs requests; empty means us-east-1.
	Region string
	// Bucket holds every object of this recevable instance.
	Bucket string
	// PathStyle addresses the bucket as endpoint/bucket rather than
	// bucket.endpoint; most non-AWS servers (versitygw, MinIO) need it.
	PathStyle bool
	// AccessKey and SecretKey are static credentials; when AccessKey is empty
	// the SDK's default chain (environment, shared files, instance role) is used.
	AccessKey, SecretKey string
	// SSE selects server-side encryption: "" (bucket default), "AES256"
	// (SSE-S3) or "SSE-C" (customer key, sent on every write and read).
	SSE string
	// SSECustomerKey is the 32-byte AES-256 key for SSE "SSE-C".
	SSECustomerKey []byte
	// PartSize is the multipart part size in bytes (default 8 MiB, minimum
	// 5 MiB). A body of known size up to PartSize that is seekable or comes
	// with its SHA256 is sent as one PutObject from the caller's reader,
	// with no buffer. Any other body goes through the uploader: a body
	// larger than one part, or of unknown size, is uploaded in parts.
	// Memory held by such a Put is bounded by about PartSize ×
	// (Concurrency+2): the uploader reads the first part whole to choose
	// between one PutObject and a multipart upload, then keeps a pool of
	// Concurrency+1 part buffers, released after each Put.
	PartSize int64
	// Concurrency is the number of parts of one upload in flight (default 2).
	Concurrency int
	// MaxRetries is how many times a request failing with a 5xx, a throttling
	// answer or a network error is retried (default 4; -1 for none).
	MaxRetries int
	// MaxBackoff caps the exponential backoff between retries (default 5s).
	MaxBackoff time.Duration
	// Timeout bounds one HTTP request, body included (default 5 minutes).
	Timeout time.Duration
	// ConditionalCopy says the server honours If-None-Match / If-Match on
	// CopyObject (AWS S3 does; versitygw v1.8.0 silently ignores them). When
	// false, a conditional Copy streams the object through this process as a
	// conditional Put, which is always correct.
	ConditionalCopy bool
}

const (
	s3DefaultPartSize = 8 << 20
	s3MinPartSize     = manager.MinUploadPartSize // 5 MiB, S3's minimum
)

// S3 is a Bucket on an S3-compatible server. Conditional writes map to
// If-None-Match: * and If-Match: <etag> on PutObject and
// CompleteMultipartUpload, which S3 evaluates atomically.
type S3 struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	o        S3Options
	sseKey   string // base64 SSE-C key and its MD5, computed once
	sseKeyMD string
	// uploadAlways sends every Put through the uploader, as before bodies
	// of known size were sent directly: benchmarks set it to compare.
	uploadAlways bool
}

var _ Bucket = (*S3)(nil)

// NewS3 builds an S3 bucket client. It does not contact the server; the
// first request does (config check may call Head on a known key).
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3 bucket: no bucket name")
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.PartSize == 0 {
		o.PartSize = s3DefaultPartSize
	}
	if o.PartSize < s3MinPartSize {
		return nil, fmt.Errorf("s3 bucket %s: part size %d below S3's minimum %d", o.Bucket, o.PartSize, s3MinPartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = 4
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	b := &S3{bucket: o.Bucket, o: o}
	switch o.SSE {
	case "", "AES256":
	case "SSE-C":
		if len(o.SSECustomerKey) != 32 {
			return nil, fmt.Errorf("s3 bucket %s: SSE-C key is %d bytes, want 32", o.Bucket, len(o.SSECustomerKey))
		}
		sum := md5.Sum(o.SSECustomerKey)
		b.sseKey = base64.StdEncoding.EncodeToString(o.SSECustomerKey)
		b.sseKeyMD = base64.StdEncoding.EncodeToString(sum[:])
	default:
		return nil, fmt.Errorf(`s3 bucket %s: SSE %q: want "", "AES256" or "SSE-C"`, o.Bucket, o.SSE)
	}

	// A BuildableClient, not a plain *http.Client: LoadDefaultConfig adds
	// AWS_CA_BUNDLE to it, and refuses any other client type when that
	// variable is set ("unable to add custom RootCAs HTTPClient").
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(o.Timeout).
		WithTransportOptions(func(tr *http.Transport) {
			// Workers and parts of concurrent uploads share one host: keep
			// enough idle connections to avoid reconnecting under load (the
			// SDK's default, 10, redials at 32 concurrent requests). A
			// server that answers "Connection: close" redials anyway:
			// versitygw does unless started with --keep-alive.
			tr.MaxIdleConnsPerHost = 32
		})
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(o.Region),
		config.WithHTTPClient(httpClient),
		// Checksums only where S3 demands them: S3-compatible servers
		// disagree on the newer flexible-checksum headers, and the
		// aws-chunked trailer they need breaks on several of them.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			// The standard retryer retries 5xx, throttling (503 SlowDown)
			// and connection errors with jittered exponential backoff.
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxRetries + 1
				so.MaxBackoff = o.MaxBackoff
				// A body that fails to read (integrity, size) surfaces as a
				// send error, which the retryer would take for the network's.
				so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(notBodyError)}, so.Retryables...)
			})
		}),
	}
	if o.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 bucket %s: load AWS configuration: %w", o.Bucket, err)
	}
	b.client = s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
	})
	b.uploader = manager.NewUploader(b.client, func(u *manager.Uploader) {
		u.PartSize = o.PartSize
		u.Concurrency = o.Concurrency
		// The uploader has its own checksum setting and ignores the
		// client's; without this it adds CRC32 trailers to every part.
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	return b, nil
}

// notBodyError refuses to retry a request that failed on reading the
// caller's body: the next attempt would read the same bytes.
func notBodyError(err error) aws.Ternary {
	var be *bodyError
	if errors.As(err, &be) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}
