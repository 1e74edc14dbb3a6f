package storage

import (
	"errors"
	"fmt"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// mapError turns an S3 answer into the errors Bucket promises, keeping the
// original wrapped for logs. o is the Put's options, because the same status
// means different things depending on the condition that was sent.
func (b *S3) mapError(err error, o PutOptions) error {
	code, status := "", 0
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	conflict := ErrPreconditionFailed
	if o.IfAbsent {
		conflict = ErrExists
	}
	switch {
	case code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound && code != "NoSuchBucket":
		// With If-Match, S3 answers 404 when there is no object to match:
		// for the caller that is a lost condition, not a missing key.
		if o.IfMatch != "" {
			return fmt.Errorf("%w (%w)", ErrPreconditionFailed, err)
		}
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return fmt.Errorf("%w (%w)", conflict, err)
	case code == "ConditionalRequestConflict":
		// 409: another conditional write on the key is in flight; AWS says to
		// re-read and retry, which is what callers do on a conflict.
		return fmt.Errorf("%w (%w)", conflict, err)
	}
	return err
}
