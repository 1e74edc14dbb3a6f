package storage

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Put implements Bucket. Every body goes through the multipart uploader: a
// body that fits in one part is sent as a single PutObject from a PartSize
// buffer, a larger or unknown-size one as a multipart upload whose
// CompleteMultipartUpload carries the condition, so the object appears whole
// or not at all, and a failed upload is aborted.
func (b *S3) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (ETag, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkPutOptions(o); err != nil {
		return "", fmt.Errorf("put %q: %w", key, err)
	}
	in := &s3.PutObjectInput{
		Bucket:      aws.String(b.bucket),
		Key:         aws.String(key),
		Body:        &sizedReader{r: r, want: o.Size},
		ContentType: aws.String(contentTypeOr(o.ContentType)),
		Metadata:    o.Metadata,
	}
	b.applyConditions(o, &in.IfNoneMatch, &in.IfMatch)
	if !o.RetainUntil.IsZero() {
		in.ObjectLockMode = types.ObjectLockModeCompliance
		in.ObjectLockRetainUntilDate = aws.Time(o.RetainUntil.UTC())
		// S3 requires an integrity checksum on writes that set a retention.
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	switch b.o.SSE {
	case "AES256":
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case "SSE-C":
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = b.sseC()
	}
	out, err := b.uploader.Upload(ctx, in)
	if err != nil {
		return "", fmt.Errorf("put %q: %w", key, b.mapError(err, o))
	}
	return ETag(aws.ToString(out.ETag)), nil
}

func (b *S3) applyConditions(o PutOptions, ifNoneMatch, ifMatch **string) {
	if o.IfAbsent {
		*ifNoneMatch = aws.String("*")
	}
	if o.IfMatch != "" {
		*ifMatch = aws.String(string(o.IfMatch))
	}
}

func (b *S3) sseC() (alg, key, keyMD5 *string) {
	return aws.String("AES256"), aws.String(b.sseKey), aws.String(b.sseKeyMD)
}

func contentTypeOr(ct string) string {
	if ct == "" {
		return "application/octet-stream"
	}
	return ct
}

// Get implements Bucket.
func (b *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey(key); err != nil {
		return nil, Info{}, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)}
	if b.o.SSE == "SSE-C" {
		// SSE-C objects can only be read with the key they were written with.
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = b.sseC()
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		return nil, Info{}, fmt.Errorf("get %q: %w", key, b.mapError(err, PutOptions{}))
	}
	return out.Body, Info{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: ETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType),
		Metadata: out.Metadata,
	}, nil
}

// Head implements Bucket.
func (b *S3) Head(ctx context.Context, key string) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, err
	}
	in := &s3.HeadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)}
	if b.o.SSE == "SSE-C" {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = b.sseC()
	}
	out, err := b.client.HeadObject(ctx, in)
	if err != nil {
		return Info{}, fmt.Errorf("head %q: %w", key, b.mapError(err, PutOptions{}))
	}
	return Info{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: ETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType),
		Metadata: out.Metadata,
	}, nil
}

// List implements Bucket with ListObjectsV2, whose StartAfter and key order
// are the ones Bucket promises.
func (b *S3) List(ctx context.Context, prefix string, o ListOptions) (ListPage, error) {
	limit := o.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000 // S3's maximum page
	}
	in := &s3.ListObjectsV2Input{
		Bucket:  aws.String(b.bucket),
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(int32(limit)),
	}
	if o.StartAfter != "" {
		in.StartAfter = aws.String(o.StartAfter)
	}
	out, err := b.client.ListObjectsV2(ctx, in)
	if err != nil {
		return ListPage{}, fmt.Errorf("list %q: %w", prefix, b.mapError(err, PutOptions{}))
	}
	page := ListPage{Objects: make([]Info, 0, len(out.Contents))}
	for _, c := range out.Contents {
		page.Objects = append(page.Objects, Info{
			Key: aws.ToString(c.Key), Size: aws.ToInt64(c.Size), ETag: ETag(aws.ToString(c.ETag)),
			LastModified: aws.ToTime(c.LastModified),
		})
	}
	if aws.ToBool(out.IsTruncated) && len(page.Objects) > 0 {
		page.Next = page.Objects[len(page.Objects)-1].Key
	}
	return page, nil
}

// Delete implements Bucket. S3 answers 204 for a missing key too.
func (b *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, b.mapError(err, PutOptions{}))
	}
	return nil
}

// Copy implements Bucket. Without ContentType or Metadata in o the source's
// are kept (MetadataDirective COPY); with either, o's replace them. An
// unconditional copy is done by the server. A conditional one is too when
// S3Options.ConditionalCopy says the server honours conditions on
// CopyObject; otherwise it streams through this process as a conditional Put.
func (b *S3) Copy(ctx context.Context, src, dst string, o PutOptions) (ETag, error) {
	if err := checkKey(src); err != nil {
		return "", err
	}
	if err := checkKey(dst); err != nil {
		return "", err
	}
	if err := checkPutOptions(o); err != nil {
		return "", fmt.Errorf("copy %q to %q: %w", src, dst, err)
	}
	if (o.IfAbsent || o.IfMatch != "") && !b.o.ConditionalCopy {
		return b.copyThrough(ctx, src, dst, o)
	}
	in := &s3.CopyObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(dst),
		// CopySource is "bucket/key", URL-encoded.
		CopySource:        aws.String((&url.URL{Path: b.bucket + "/" + src}).EscapedPath()),
		MetadataDirective: types.MetadataDirectiveCopy,
	}
	if o.ContentType != "" || o.Metadata != nil {
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.ContentType = aws.String(contentTypeOr(o.ContentType))
		in.Metadata = o.Metadata
	}
	b.applyConditions(o, &in.IfNoneMatch, &in.IfMatch)
	if !o.RetainUntil.IsZero() {
		in.ObjectLockMode = types.ObjectLockModeCompliance
		in.ObjectLockRetainUntilDate = aws.Time(o.RetainUntil.UTC())
	}
	switch b.o.SSE {
	case "AES256":
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case "SSE-C":
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = b.sseC()
		in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5 = b.sseC()
	}
	out, err := b.client.CopyObject(ctx, in)
	if err != nil {
		return "", fmt.Errorf("copy %q to %q: %w", src, dst, b.mapError(err, o))
	}
	if out.CopyObjectResult == nil {
		return "", fmt.Errorf("copy %q to %q: no CopyObjectResult in the answer", src, dst)
	}
	return ETag(aws.ToString(out.CopyObjectResult.ETag)), nil
}

// copyThrough copies by reading src and writing dst with a conditional Put.
func (b *S3) copyThrough(ctx context.Context, src, dst string, o PutOptions) (ETag, error) {
	body, inf, err := b.Get(ctx, src)
	if err != nil {
		return "", fmt.Errorf("copy %q to %q: %w", src, dst, err)
	}
	defer body.Close()
	if o.ContentType == "" && o.Metadata == nil {
		o.ContentType, o.Metadata = inf.ContentType, inf.Metadata
	}
	o.Size = inf.Size
	etag, err := b.Put(ctx, dst, body, o)
	if err != nil {
		return "", fmt.Errorf("copy %q to %q: %w", src, dst, err)
	}
	return etag, nil
}

// sizedReader fails the read that proves the body differs from its announced
// size, so that the upload fails and stores nothing. want <= 0 means unknown.
type sizedReader struct {
	r    io.Reader
	want int64
	got  int64
}

func (s *sizedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.got += int64(n)
	if s.want > 0 {
		if s.got > s.want {
			return 0, fmt.Errorf("body longer than its announced %d bytes", s.want)
		}
		if err == io.EOF && s.got != s.want {
			return 0, fmt.Errorf("body has %d bytes, Size says %d", s.got, s.want)
		}
	}
	return n, err
}
