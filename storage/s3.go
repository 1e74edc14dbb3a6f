package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Put implements Bucket. A body of known size that fits in one part is sent
// as one PutObject straight from r, when the request can be signed without
// buffering it: r is seekable (the SDK hashes it and seeks back, and can
// rewind it to retry), or o.SHA256 gives the payload hash. A body of unknown
// size, larger than PartSize, or neither seekable nor hashed goes through the
// multipart uploader: one PutObject from a PartSize buffer, or a multipart
// upload whose CompleteMultipartUpload carries the condition, so the object
// appears whole or not at all, and a failed upload is aborted.
//
// A body sent directly is always signed with its hash (x-amz-content-sha256,
// even over HTTPS), o.SHA256 or one computed in a first pass over the
// seekable body, and the server
// refuses a body that does not match it: one that is not the caller's, or
// one cut short by a failing reader. On the uploader's path this process
// checks o.SHA256 while reading. A non-seekable body sent directly cannot be
// retried by the SDK after a 5xx: the Put fails and the caller retries.
func (b *S3) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (ETag, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkPutOptions(o); err != nil {
		return "", fmt.Errorf("put %q: %w", key, err)
	}
	if err := checkSHA256Option(o); err != nil {
		return "", fmt.Errorf("put %q: %w", key, err)
	}
	in := &s3.PutObjectInput{
		Bucket:      aws.String(b.bucket),
		Key:         aws.String(key),
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
	var (
		etag *string
		err  error
	)
	if s, seekable := seekableAt(r); b.putDirectly(o, seekable) {
		etag, err = b.putObject(ctx, in, r, s, o)
	} else {
		etag, err = b.upload(ctx, in, r, o)
	}
	if err != nil {
		return "", fmt.Errorf("put %q: %w", key, b.mapPutError(err, o))
	}
	return ETag(aws.ToString(etag)), nil
}

// putDirectly says whether a Put is sent as one PutObject from the caller's
// reader rather than through the uploader.
func (b *S3) putDirectly(o PutOptions, seekable bool) bool {
	switch {
	case b.uploadAlways, o.Size <= 0, o.Size > b.o.PartSize:
		return false
	case !o.RetainUntil.IsZero():
		// The CRC32 a retention needs is computed in a first pass over the
		// body, then the SDK seeks back to send it (over plain HTTP; over
		// HTTPS it is a trailer, as on the uploader's path).
		return seekable
	}
	return seekable || o.SHA256 != ""
}

// putObject sends the body as one PutObject with Content-Length o.Size. s
// is r's seeker when r can seek, the zero seekerAt otherwise.
func (b *S3) putObject(ctx context.Context, in *s3.PutObjectInput, r io.Reader, s seekerAt, o PutOptions) (*string, error) {
	sr := &sizedReader{r: r, want: o.Size}
	in.Body = sr
	sha := o.SHA256
	if s.Seeker != nil {
		// The SDK rewinds a seekable body to retry a request.
		ss := &sizedSeeker{sizedReader: sr, s: s.Seeker, start: s.pos}
		in.Body = ss
		if sha == "" {
			var err error
			if sha, err = hashAndRewind(ss, s.pos); err != nil {
				return nil, err
			}
		}
	}
	in.ContentLength = aws.Int64(o.Size)
	// Always a signed payload hash, even over HTTPS where the SDK would send
	// UNSIGNED-PAYLOAD: a body cut short by a failing reader must be refused
	// by its hash, and versitygw v1.8.0 commits an unsigned body cut short
	// (it does not compare it with Content-Length).
	out, err := b.client.PutObject(ctx, in, s3.WithAPIOptions(func(st *middleware.Stack) error {
		return st.Initialize.Add(payloadSHA256(sha), middleware.Before)
	}))
	if err != nil {
		return nil, err
	}
	return out.ETag, nil
}

// hashBuffers hold the buffers hashAndRewind reads through: the SDK's own
// hashing allocates 32 KiB per request, more than a small record's Put
// allocates in all.
var hashBuffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// hashAndRewind returns the lower-case hex SHA-256 of what r yields, then
// seeks r back to start.
func hashAndRewind(r io.ReadSeeker, start int64) (string, error) {
	buf := hashBuffers.Get().(*[32 << 10]byte)
	defer hashBuffers.Put(buf)
	h := sha256.New()
	if _, err := io.CopyBuffer(h, r, buf[:]); err != nil {
		return "", err
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return "", &bodyError{fmt.Errorf("seek back to the start: %w", err)}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// upload sends the body through the multipart uploader, checking o.SHA256
// on the way when the caller has not already wrapped r to do so: this
// path's requests carry the hash of each part, not the caller's.
func (b *S3) upload(ctx context.Context, in *s3.PutObjectInput, r io.Reader, o PutOptions) (*string, error) {
	if o.SHA256 != "" && !verifies(r, o.SHA256) {
		size := o.Size
		if size <= 0 {
			size = -1
		}
		r = NewVerifyingReader(r, o.SHA256, size)
	}
	in.Body = &sizedReader{r: r, want: o.Size}
	out, err := b.uploader.Upload(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.ETag, nil
}

// verifies reports whether r already checks the SHA-256 sha (putVerified's
// readers), so that the body is not hashed twice in this process.
func verifies(r io.Reader, sha string) bool {
	switch v := r.(type) {
	case *VerifyingReader:
		return v.want == sha
	case *verifyingSeeker:
		return v.want == sha
	}
	return false
}

// payloadSHA256 gives the SigV4 signer the body's hash as a stack value,
// the only place it looks: the SDK's ComputePayloadSHA256 then leaves the
// body unread, the request carries x-amz-content-sha256 with this value,
// and the server refuses a body that does not match it.
type payloadSHA256 string

// ID implements middleware.InitializeMiddleware.
func (payloadSHA256) ID() string { return "recevable.PayloadSHA256" }

// HandleInitialize implements middleware.InitializeMiddleware.
func (h payloadSHA256) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	return next.HandleInitialize(v4.SetPayloadHash(ctx, string(h)), in)
}

// mapPutError is mapError, plus the server's refusal of a body that does
// not match the signed payload hash (o.SHA256).
func (b *S3) mapPutError(err error, o PutOptions) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "XAmzContentSHA256Mismatch" {
		return fmt.Errorf("%w (%w)", ErrIntegrity, err)
	}
	return b.mapError(err, o)
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
// size, so that the upload fails and stores nothing. want <= 0 means
// unknown. The failing Read returns no bytes, and the read that reaches want
// bytes first checks that the body ends there: a consumer sending exactly
// want bytes (net/http with a Content-Length) must never have sent them all
// when the body is wrong. Errors of the caller's reader come out as a
// *bodyError, which the client does not retry.
type sizedReader struct {
	r    io.Reader
	want int64
	got  int64
}

func (s *sizedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.got += int64(n)
	if err != nil && err != io.EOF {
		return 0, &bodyError{err}
	}
	if s.want <= 0 {
		return n, err
	}
	switch {
	case s.got > s.want:
		return 0, &bodyError{fmt.Errorf("body longer than its announced %d bytes", s.want)}
	case err == io.EOF && s.got != s.want:
		return 0, &bodyError{fmt.Errorf("body has %d bytes, Size says %d", s.got, s.want)}
	case s.got == s.want && err == nil && n > 0:
		if perr := s.probeEnd(); perr != nil {
			return 0, perr
		}
		return n, io.EOF
	}
	return n, err
}

// probeEnd reads past the announced size, where the body must end.
func (s *sizedReader) probeEnd() error {
	var one [1]byte
	for range 100 { // io.Reader allows (0, nil); do not spin forever on it
		n, err := s.r.Read(one[:])
		switch {
		case n > 0:
			return &bodyError{fmt.Errorf("body longer than its announced %d bytes", s.want)}
		case err == io.EOF:
			return nil
		case err != nil:
			return &bodyError{err}
		}
	}
	return &bodyError{io.ErrNoProgress}
}

// sizedSeeker is a sizedReader over a seekable body, with the body's own
// positions: the SDK measures, hashes and rewinds it.
type sizedSeeker struct {
	*sizedReader
	s     io.Seeker
	start int64
}

// Seek implements io.Seeker.
func (s *sizedSeeker) Seek(offset int64, whence int) (int64, error) {
	pos, err := s.s.Seek(offset, whence)
	if err == nil {
		s.got = pos - s.start
	}
	return pos, err
}

// bodyError is an error of reading the caller's body. It is not the
// network's: retrying the request would read the same body again.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "read body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }
