package s3test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestStartExternal points RECEVABLE_TEST_S3_ENDPOINT at a server started by
// Start and checks that a second Start uses it with a bucket of its own, and
// takes it for a versitygw only when RECEVABLE_TEST_S3_KIND says so.
func TestStartExternal(t *testing.T) {
	first := Start(t)
	t.Setenv("RECEVABLE_TEST_S3_ENDPOINT", first.Endpoint)
	t.Setenv("RECEVABLE_TEST_S3_ACCESS_KEY", first.AccessKey)
	t.Setenv("RECEVABLE_TEST_S3_SECRET_KEY", first.SecretKey)
	t.Setenv("RECEVABLE_TEST_S3_KIND", "")
	second := Start(t)
	if second.Versitygw || second.Endpoint != first.Endpoint || second.Bucket == first.Bucket {
		t.Fatalf("second Start = %+v, want the first's endpoint, not started by it, another bucket", second)
	}
	t.Setenv("RECEVABLE_TEST_S3_KIND", "versitygw")
	if third := Start(t); !third.Versitygw || third.Endpoint != first.Endpoint {
		t.Errorf("Start with RECEVABLE_TEST_S3_KIND=versitygw = %+v, want the first's endpoint known as a versitygw", third)
	}
	ctx := context.Background()
	if _, err := first.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(second.Bucket)}); err != nil {
		t.Errorf("bucket %s not on the first server: %v", second.Bucket, err)
	}
	locked := second.NewBucket(t, true)
	out, err := second.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(locked)})
	if err != nil || out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != "Enabled" {
		t.Errorf("NewBucket(objectLock): configuration %+v, err %v", out, err)
	}
}

// TestBinaryOrder checks the documented lookup order of the versitygw binary.
func TestBinaryOrder(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("PATH", t.TempDir())
	t.Setenv("RECEVABLE_VERSITYGW", "")
	if got := Binary(); got != "" {
		t.Errorf("Binary() with nothing installed = %q, want empty", got)
	}
	cached := filepath.Join(home, ".cache", "recevable", "versitygw-"+VersitygwVersion, "versitygw")
	pathDir := t.TempDir()
	for _, p := range []string{cached, filepath.Join(pathDir, "versitygw")} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := Binary(); got != cached {
		t.Errorf("Binary() = %q, want the cached build %q", got, cached)
	}
	t.Setenv("PATH", pathDir)
	if got := Binary(); got != filepath.Join(pathDir, "versitygw") {
		t.Errorf("Binary() = %q, want the one on PATH", got)
	}
	t.Setenv("RECEVABLE_VERSITYGW", "/opt/vgw")
	if got := Binary(); got != "/opt/vgw" {
		t.Errorf("Binary() = %q, want RECEVABLE_VERSITYGW", got)
	}
}
