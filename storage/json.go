package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// maxRecord bounds the JSON records this package reads (manifests included):
// a record larger than this is not one of ours, and reading it whole into
// memory would be the bug.
const maxRecord = 16 << 20

// encodeJSON is the one encoding of every JSON record: indented, so that a
// manifest read with a plain S3 client is legible, without HTML escaping
// (a Message-ID shows as <id@host>, not \u003cid@host\u003e), and
// newline-terminated.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PutJSON stores v under key in the encoding of every record of the bucket
// (encodeJSON), with the conditions in o. Packages that own records of
// their own (invitations, drop claims) write them through it.
func PutJSON(ctx context.Context, b Bucket, key string, v any, o PutOptions) (ETag, error) {
	return putJSON(ctx, b, key, v, o)
}

// GetJSON reads the JSON record at key into v and returns its ETag; records
// over 16 MiB are refused. It fails with ErrNotFound when key is missing.
func GetJSON(ctx context.Context, b Bucket, key string, v any) (ETag, error) {
	return getJSON(ctx, b, key, v)
}

// putJSON stores v as JSON under key with the conditions in o.
func putJSON(ctx context.Context, b Bucket, key string, v any, o PutOptions) (ETag, error) {
	data, err := encodeJSON(v)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", key, err)
	}
	o.Size = int64(len(data))
	o.ContentType = "application/json"
	etag, err := b.Put(ctx, key, bytes.NewReader(data), o)
	if err != nil {
		return "", err // the backends name the key
	}
	return etag, nil
}

// getJSON reads the JSON record at key into v and returns its ETag. It fails
// with ErrNotFound when the key is missing.
func getJSON(ctx context.Context, b Bucket, key string, v any) (ETag, error) {
	rc, info, err := b.Get(ctx, key)
	if err != nil {
		return "", err // the backends name the key
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxRecord+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	if len(data) > maxRecord {
		return "", fmt.Errorf("read %s: record larger than %d bytes", key, maxRecord)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return "", fmt.Errorf("decode %s: %w", key, err)
	}
	return info.ETag, nil
}
