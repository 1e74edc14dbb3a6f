package intake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"recevable/storage"
)

// Drop claims: before a replica takes a file of a drop, it writes a claim
// in the bucket with a conditional write, so that several replicas watching
// the same folder or S3 prefix never take the same file (DESIGN.md:
// conditional writes are the only coordination primitive). A claim names
// its holder and expires; the holder renews it while the item is processed
// and deletes it once the file has left the drop (moved to done/ or
// failed/), so claims do not pile up. A holder that dies leaves its claim
// to expire: another replica (or its restart) then takes the file again,
// and the pipeline's idempotence (raw sha) makes that safe.
//
// Key: state/claims/<sha256 hex of source id, NUL, file name>. (The storage
// layout documents state/; this prefix belongs to intake's drops.)

// claimPrefix is where claims live in the bucket.
const claimPrefix = "state/claims/"

// errClaimed: another holder has an unexpired claim on the file.
var errClaimed = errors.New("drop: file claimed by another replica")

// claimRecord is the body of a claim.
type claimRecord struct {
	Source  string    `json:"source"`
	Name    string    `json:"name"`
	Holder  string    `json:"holder"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// claim is a claim held by this process. While its item is in flight only
// the renewal (DropSource.renew) touches it; the ack and the release drop
// it once that renewal has stopped (DropSource.endRenewal).
type claim struct {
	key  string
	rec  claimRecord
	etag storage.ETag
}

// claims writes and reads claims for one source.
type claims struct {
	bucket storage.Bucket
	source string
	holder string
	ttl    time.Duration
	now    func() time.Time
}

func (c claims) key(name string) string {
	h := sha256.Sum256([]byte(c.source + "\x00" + name))
	return claimPrefix + hex.EncodeToString(h[:])
}

// acquire claims name: creates the claim, or takes over one that expired.
// It fails with errClaimed when another holder's claim is still valid.
func (c claims) acquire(ctx context.Context, name string) (*claim, error) {
	key := c.key(name)
	var tok [16]byte
	rand.Read(tok[:])
	rec := claimRecord{Source: c.source, Name: name, Holder: c.holder, Token: hex.EncodeToString(tok[:]), Expires: c.now().Add(c.ttl).UTC()}
	etag, err := c.put(ctx, key, rec, storage.PutOptions{IfAbsent: true})
	if err == nil {
		return &claim{key: key, rec: rec, etag: etag}, nil
	}
	if !errors.Is(err, storage.ErrExists) {
		return nil, fmt.Errorf("claim %s: %w", name, err)
	}
	cur, curTag, err := c.get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("claim %s: %w (released meanwhile)", name, errClaimed)
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", name, err)
	}
	if c.now().Before(cur.Expires) {
		return nil, fmt.Errorf("claim %s: %w until %s", name, errClaimed, cur.Expires.Format(time.RFC3339))
	}
	// Expired: its holder died or stalled. Take it over, if nobody else
	// did first.
	etag, err = c.put(ctx, key, rec, storage.PutOptions{IfMatch: curTag})
	if storage.IsConflict(err) {
		return nil, fmt.Errorf("claim %s: %w (lost the race)", name, errClaimed)
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", name, err)
	}
	return &claim{key: key, rec: rec, etag: etag}, nil
}

// renew extends a held claim. It fails with errClaimed when the claim was
// taken over (it had expired): the item is then someone else's too, which
// the pipeline tolerates, but the holder should not ack carelessly.
func (c claims) renew(ctx context.Context, cl *claim) error {
	rec := cl.rec
	rec.Expires = c.now().Add(c.ttl).UTC()
	etag, err := c.put(ctx, cl.key, rec, storage.PutOptions{IfMatch: cl.etag})
	if storage.IsConflict(err) {
		return fmt.Errorf("renew claim %s: %w", cl.rec.Name, errClaimed)
	}
	if err != nil {
		return fmt.Errorf("renew claim %s: %w", cl.rec.Name, err)
	}
	cl.rec, cl.etag = rec, etag
	return nil
}

// drop deletes a claim if it is still ours. The check and the delete are
// two calls (deletes are not conditional); between them the claim could
// only change hands if it expired, which renewal prevents.
func (c claims) drop(ctx context.Context, cl *claim) error {
	cur, _, err := c.get(ctx, cl.key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("drop claim %s: %w", cl.rec.Name, err)
	}
	if cur.Token != cl.rec.Token {
		return nil // taken over: not ours to delete
	}
	if err := c.bucket.Delete(ctx, cl.key); err != nil {
		return fmt.Errorf("drop claim %s: %w", cl.rec.Name, err)
	}
	return nil
}

func (c claims) put(ctx context.Context, key string, rec claimRecord, o storage.PutOptions) (storage.ETag, error) {
	return storage.PutJSON(ctx, c.bucket, key, rec, o)
}

func (c claims) get(ctx context.Context, key string) (claimRecord, storage.ETag, error) {
	var rec claimRecord
	etag, err := storage.GetJSON(ctx, c.bucket, key, &rec)
	return rec, etag, err
}
