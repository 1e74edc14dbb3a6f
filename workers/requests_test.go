package workers

import (
	"context"
	"fmt"
	"io"
	"maps"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"recevable/storage"
	"recevable/storage/buckettest"
)

// threeAttachments is an email submission with three attachments: four
// documents with the body.
func threeAttachments(id string) []byte {
	return message(id+"@example.org", "demandeur@example.org", "Dépôt de dossier", "Bonjour, voici mon dossier.",
		[2]string{"passeport.txt", "PASSEPORT " + id}, [2]string{"justificatif.txt", "DOMICILE " + id}, [2]string{"photo.txt", "PHOTO " + id})
}

// freshItemRequests is what one new email item of four documents costs once
// the process has written the counter before (steady state), and why each
// request is needed:
//
//	head raw, put raw            Raws.Store: the HEAD spares the upload of a
//	                             replay's body; the PUT IfAbsent is the item
//	put index/message-id         dedup of the same message with other bytes
//	put state/counters           the number, IfMatch what this process
//	put index/raw                last wrote; its binding to the raw sha
//	put dossiers/…/documents ×4  the documents, verified while uploading
//	put queue, put manifest      the marker, then the commit
//	put index/done               the item is finished
//
// Nothing is read: the item did not exist before this Store created raw/,
// so there is no earlier work to look for (RawMeta.Created), and the
// counter's last version is this process's own write.
var freshItemRequests = map[string]int{
	"head raw": 1, "put raw": 1,
	"put index/message-id": 1,
	"put state/counters":   1, "put index/raw": 1,
	"put dossiers/…/documents": 4,
	"put queue/75":             1, "put dossiers/…/manifest.json": 1,
	"put index/done": 1,
}

// freshItemCeiling is 8 requests plus one per document: 12 here, against
// 22 before the pipeline skipped the reads of a fresh item (done marker,
// quarantine entry, the counter and the claims' bindings, the manifest
// before creating it, a HEAD per document).
const freshItemCeiling = 12

// TestFreshItemRequests counts the bucket requests of one new email item
// with three attachments through the pipeline, then checks that the same
// bytes again are recognised and make no second dossier.
func TestFreshItemRequests(t *testing.T) {
	cb := buckettest.NewCounting(newBucket(t))
	p := newPipeline(t, testOptions(t, cb))
	ctx := context.Background()
	handle := func(raw []byte) Result {
		t.Helper()
		res, err := p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// The first reservation of a process reads the counter (absent here).
	handle(threeAttachments("warm-up"))
	cb.Take()

	raw := threeAttachments("counted")
	res := handle(raw)
	got := cb.Take()
	total := 0
	for _, n := range got {
		total += n
	}
	if res.Result != ResultStored || len(res.Numbers) != 1 || res.Numbers[0] != "75-2026-000002" {
		t.Fatalf("Handle = %+v; want stored as 75-2026-000002", res)
	}
	if !maps.Equal(got, freshItemRequests) || total > freshItemCeiling {
		t.Errorf("one new item of 4 documents: %d requests %v\nwant at most %d: %v", total, got, freshItemCeiling, freshItemRequests)
	}

	// The same bytes again: a replay, found done.
	again := handle(raw)
	if again.Result != ResultDuplicate || len(again.Numbers) != 1 || again.Numbers[0] != res.Numbers[0] {
		t.Errorf("same bytes again = %+v; want a duplicate of %s", again, res.Numbers[0])
	}
	ms := dossiers(t, cb)
	if len(ms) != 2 {
		t.Errorf("%d dossiers after the replay, want 2", len(ms))
	}
	checkNumbers(t, cb, ms, "75", 2026)
}

// TestFreshItemFailedAttempt: when the first attempt on a new item fails
// half-way, the next attempt may find anything the first wrote, so it
// looks for earlier work like any replay: one read of the done marker, and
// still one dossier with one number.
func TestFreshItemFailedAttempt(t *testing.T) {
	cb := buckettest.NewCounting(newBucket(t))
	docs := 0
	fb := &failOnce{Bucket: cb, fail: func(key string) bool {
		// The second document: the number is bound, one document written.
		if strings.Contains(key, "/documents/") {
			docs++
			return docs == 2
		}
		return false
	}}
	p := newPipeline(t, testOptions(t, fb))
	raw := threeAttachments("flaky")
	res, err := p.Handle(context.Background(), "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), nil)
	if err != nil || res.Result != ResultStored {
		t.Fatalf("Handle = %+v, %v; want stored after a retry", res, err)
	}
	if n := cb.Take()["get index/done"]; n != 1 {
		t.Errorf("done marker read %d times; want once, by the second attempt only", n)
	}
	ms := dossiers(t, cb)
	if len(ms) != 1 || ms["75-2026-000001"] == nil || len(ms["75-2026-000001"].Documents) != 4 {
		t.Errorf("dossiers %v; want 75-2026-000001 with 4 documents", ms)
	}
	checkNumbers(t, cb, ms, "75", 2026)
}

// failOnce fails the Puts fail picks, before storing anything.
type failOnce struct {
	storage.Bucket
	mu   sync.Mutex
	fail func(key string) bool
}

func (f *failOnce) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.ETag, error) {
	f.mu.Lock()
	fail := f.fail(key)
	f.mu.Unlock()
	if fail {
		return "", fmt.Errorf("put %s: %w", key, errUnavailable)
	}
	return f.Bucket.Put(ctx, key, r, o)
}

// TestFreshItemStopsAtEachFault stops the processing of a new item at each
// fault point — the goroutine ends there, as if the process died: nothing
// after the point is written — then a new pipeline (a restarted process,
// its counter memory empty) takes the same bytes again. Exactly one dossier
// with one number, all four documents, the item done, nothing in
// quarantine; and the same bytes once more are a duplicate. The crash tests
// in process_test.go do the same with SIGKILL on real processes over IMAP.
func TestFreshItemStopsAtEachFault(t *testing.T) {
	for _, point := range FaultPoints {
		t.Run(string(point), func(t *testing.T) {
			b := newBucket(t)
			ctx := context.Background()
			raw := threeAttachments("fault-" + string(point))
			o := testOptions(t, b)
			stopped := false
			o.Fault = func(at FaultPoint, _ string) {
				if at == point {
					stopped = true
					runtime.Goexit()
				}
			}
			p := newPipeline(t, o)
			done := make(chan struct{})
			go func() {
				defer close(done)
				p.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), nil)
			}()
			<-done
			if !stopped {
				t.Fatalf("fault point %s never reached", point)
			}

			restarted := newPipeline(t, testOptions(t, b))
			res, err := restarted.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), nil)
			if err != nil || len(res.Numbers) != 1 || res.Numbers[0] != "75-2026-000001" {
				t.Fatalf("after a stop at %s, Handle = %+v, %v; want 75-2026-000001", point, res, err)
			}
			again, err := restarted.Handle(ctx, "75", storage.ChannelEmail, memItem("imap:test/INBOX", raw, nil), nil)
			if err != nil || again.Result != ResultDuplicate || again.Numbers[0] != "75-2026-000001" {
				t.Errorf("same bytes once more = %+v, %v; want a duplicate of 75-2026-000001", again, err)
			}

			ms := dossiers(t, b)
			m := ms["75-2026-000001"]
			if len(ms) != 1 || m == nil {
				t.Fatalf("dossiers %v; want 75-2026-000001 only", ms)
			}
			checkDocuments(t, b, m)
			checkNumbers(t, b, ms, "75", 2026)
			if qs := quarantined(t, b); len(qs) != 0 {
				t.Errorf("quarantine: %+v", qs)
			}
			if _, err := restarted.raws.GetDone(ctx, sha(raw)); err != nil {
				t.Errorf("done marker: %v", err)
			}
			if q := keys(t, b, storage.QueuePrefix("75", storage.StatusAVerifier)); len(q) != 1 {
				t.Errorf("queue a_verifier holds %v, want one marker", q)
			}
			var pending []string
			if err := restarted.raws.Pending(ctx, time.Time{}, func(m storage.RawMeta) error {
				pending = append(pending, m.SHA256)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(pending) != 0 {
				t.Errorf("raw items left unfinished: %v", pending)
			}
		})
	}
}
