package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"recevable/storage/s3test"
)

// The floor of any pipeline that meets the issue, whatever its code: for
// each message, the raw object and the three records a registered dossier
// cannot do without — a registration number taken with a conditional write
// on the site's counter (DESIGN.md: conditional writes are the only
// coordination primitive), the manifest, and the queue marker (the issue's
// "dossier written with the next registration number, manifest, documents,
// queue marker") — with the SDK alone, no parsing, no documents, no reads.
// If this phase alone is more than 1.5 times the raw put on a machine,
// the ratio cannot be met there by any implementation.

// floorManifestSize is the size of a manifest record in this phase: the
// golden manifest of storage/testdata (one document, one evidence, a
// decision and its history) is 2,076 bytes.
const floorManifestSize = 2076

// floorPut puts each file as raw/<sha256> (If-None-Match: *), then takes the
// next number from one counter object (PUT If-Match on the ETag of this
// process's previous write: reservations are serialised in the process, so
// none is lost to a conflict and none needs a GET), then puts the manifest
// and the queue marker (If-None-Match: *), from parallel goroutines. keys
// are the files' raw/<sha256>, hashed beforehand (rawKeys). It returns
// the messages and raw bytes written.
func floorPut(t testing.TB, srv *s3test.Server, bucket string, files, keys []string, parallel int) (int, int64) {
	t.Helper()
	client := rawS3Client(t, srv)
	ctr := &floorCounter{client: client, bucket: bucket}
	manifest := bytes.Repeat([]byte("x"), floorManifestSize)
	n, total := putEach(t, "floor put", files, parallel, func(i int) (int64, error) {
		size, err := putFile(client, bucket, keys[i], files[i])
		if err == nil {
			err = floorRecords(client, bucket, ctr, manifest)
		}
		return size, err
	})
	if got := ctr.last; got != int64(len(files)) {
		t.Fatalf("floor put: counter at %d after %d messages", got, len(files))
	}
	return n, total
}

// floorRecords writes one dossier's records: number, manifest, marker.
func floorRecords(client *s3.Client, bucket string, ctr *floorCounter, manifest []byte) error {
	number, err := ctr.next()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("dossiers/75/2026/75-2026-%06d", number)
	for _, o := range []struct {
		key  string
		body []byte
	}{
		{base + "/manifest.json", manifest},
		{fmt.Sprintf("queue/75/a_verifier/20261126T120000Z-75-2026-%06d", number), nil},
	} {
		_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(o.key), Body: bytes.NewReader(o.body),
			ContentLength: aws.Int64(int64(len(o.body))), ContentType: aws.String("application/json"),
			IfNoneMatch: aws.String("*"),
		})
		if err != nil {
			return fmt.Errorf("put %s: %w", o.key, err)
		}
	}
	return nil
}

// floorCounter is one site's registration counter, updated with If-Match
// on the ETag of the previous write, one reservation at a time.
type floorCounter struct {
	client *s3.Client
	bucket string
	mu     sync.Mutex
	etag   string
	last   int64
}

func (c *floorCounter) next() (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	body := fmt.Sprintf(`{"site":"75","year":2026,"last":%d}`, c.last+1)
	in := &s3.PutObjectInput{
		Bucket: aws.String(c.bucket), Key: aws.String("state/counters/75/2026.json"),
		Body: strings.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: aws.String("application/json"),
	}
	if c.etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(c.etag)
	}
	out, err := c.client.PutObject(context.Background(), in)
	if err != nil {
		return 0, fmt.Errorf("counter: %w", err)
	}
	if out.ETag == nil {
		return 0, errors.New("counter: no ETag in the answer")
	}
	c.etag, c.last = *out.ETag, c.last+1
	return c.last, nil
}

// TestFloor measures only the sink's two limits, raw put and floor, on the
// same messages as TestThroughput: a quick look at whether the ratio the
// issue asks for is within reach on this machine.
//
//	RECEVABLE_BENCH=1 go test ./bench/ -run TestFloor -v
func TestFloor(t *testing.T) {
	env := readEnv(t)
	g, err := NewGenerator(Options{Seed: env.seed, Content: env.content})
	if err != nil {
		t.Fatal(err)
	}
	files, total := spoolMessages(t, g, env.n, t.TempDir())
	keys := rawKeys(t, files) // before any phase is timed
	s3srv := s3test.Start(t)
	m := meter{groups: map[string]int{"versitygw": ChildPID("versitygw")}}
	put := m.run(fmt.Sprintf("raw S3 put (%d in parallel)", env.pool), func() (int, int64) {
		return rawPut(t, s3srv, s3srv.Bucket, files, keys, env.pool)
	})
	floor := m.run(fmt.Sprintf("floor: raw put + counter, manifest, queue marker (%d in parallel)", env.pool), func() (int, int64) {
		return floorPut(t, s3srv, s3srv.NewBucket(t, false), files, keys, env.pool)
	})
	if put.Bytes != total || floor.Bytes != total {
		t.Fatalf("bytes: generated %d, raw put %d, floor %d", total, put.Bytes, floor.Bytes)
	}
	var b strings.Builder
	WriteTable(&b, put, floor)
	fmt.Fprintf(&b, "\nratio floor / raw put = %.2f\n", Ratio(floor, put))
	t.Logf("figures (%s):\n%s", time.Now().Format("2006-01-02 15:04"), b.String())
}
