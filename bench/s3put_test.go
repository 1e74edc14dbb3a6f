package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"recevable/storage/s3test"
)

// The sink's physical limit: the same bytes put to the S3 server with the
// SDK alone, no recevable code in between.

// rawS3Client is an SDK client with the settings storage.NewS3 gives its
// own (storage/s3_client.go): HTTP timeout and idle connections,
// checksums only when required, the standard retryer, path-style
// addressing. Kept in step by hand: storage does not export its client.
func rawS3Client(t testing.TB, srv *s3test.Server) *s3.Client {
	t.Helper()
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(5 * time.Minute).
		WithTransportOptions(func(tr *http.Transport) { tr.MaxIdleConnsPerHost = 32 })
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(srv.Region),
		config.WithHTTPClient(httpClient),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 6; o.MaxBackoff = 5 * time.Second })
		}),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")),
	)
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.Endpoint)
		o.UsePathStyle = true
	})
}

// rawPut puts each file as raw/<sha256> to bucket with If-None-Match: *,
// as the pipeline stores a raw item, from parallel goroutines (the
// pipeline's pool size). keys, raw/<sha256> of each file, are computed
// beforehand (rawKeys), outside the timed phase: the pipeline hashes while
// spooling, and this phase measures the server. It returns the objects and
// bytes written.
func rawPut(t testing.TB, srv *s3test.Server, bucket string, files, keys []string, parallel int) (int, int64) {
	t.Helper()
	client := rawS3Client(t, srv)
	return putEach(t, "raw put", files, parallel, func(i int) (int64, error) {
		return putFile(client, bucket, keys[i], files[i])
	})
}

// putEach runs put(i) for every file from parallel goroutines and returns
// how many succeeded and the bytes they reported; any error fails t.
func putEach(t testing.TB, what string, files []string, parallel int, put func(i int) (int64, error)) (int, int64) {
	t.Helper()
	var next, n, total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				size, err := put(i)
				if err != nil {
					errs <- err
					return
				}
				n.Add(1)
				total.Add(size)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("%s: %v", what, err)
	}
	return int(n.Load()), total.Load()
}

// rawKeys are the keys raw/<sha256> of files.
func rawKeys(t testing.TB, files []string) []string {
	t.Helper()
	keys := make([]string, len(files))
	for i, f := range files {
		h, err := hashFile(f)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = "raw/" + h
	}
	return keys
}

// hashFile is the hex SHA-256 of a file.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// putFile sends one file with one PutObject, its size known.
func putFile(client *s3.Client, bucket, key, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	_, err = client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: f,
		ContentLength: aws.Int64(st.Size()), ContentType: aws.String("message/rfc822"),
		IfNoneMatch: aws.String("*"),
	})
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return st.Size(), nil
}
