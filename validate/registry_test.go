package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"recevable/storage"
)

func newTestRegistry(t *testing.T) (*Registry, storage.Bucket) {
	t.Helper()
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return NewRegistry(b), b
}

func testIssueRequest(t *testing.T) IssueRequest {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return IssueRequest{
		Site:          "75",
		Department:    "75",
		Name:          "Élodie N'Diaye",
		Email:         "elodie@example.org",
		PostalAddress: []string{"3, rue des Lilas", "75020 Paris"},
		IssuedBy:      "agent-042",
		// 00:30 in Paris is still 28 February in UTC: the issue day is the
		// site's, 1 March.
		Now:       time.Date(2026, 3, 1, 0, 30, 0, 0, paris),
		ExpiresOn: date(2026, 5, 31),
	}
}

func TestRegistryIssueGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, b := newTestRegistry(t)
	key := testKey(t, "75", date(2026, 1, 15), 1)
	req := testIssueRequest(t)
	inv, err := reg.Issue(ctx, req, key)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ParseReference(inv.Reference)
	if err != nil {
		t.Fatalf("issued reference %q: %v", inv.Reference, err)
	}
	if ref.Code != "75" || ref.Year != 2026 {
		t.Errorf("reference %s, want site code 75 and year 2026", ref)
	}
	if _, err := b.Head(ctx, "invitations/75/"+inv.Reference+".json"); err != nil {
		t.Errorf("record not at invitations/75/<reference>.json: %v", err)
	}

	got, etag, err := reg.Get(ctx, "75", ref)
	if err != nil {
		t.Fatal(err)
	}
	if etag == "" || got.Name != req.Name || got.Email != req.Email || got.Department != "75" ||
		got.IssuedBy != "agent-042" || got.KeyID != key.ID || got.NameHash != HashName("ELODIE N'DIAYE") ||
		len(got.PostalAddress) != 2 || got.Revoked != nil || len(got.ConsumedBy) != 0 {
		t.Errorf("Get = %+v", got)
	}
	if !got.IssuedAt.Equal(req.Now) || !got.ExpiresOn.Equal(date(2026, 5, 31)) {
		t.Errorf("dates: issued %v expires %v", got.IssuedAt, got.ExpiresOn)
	}

	// The token in the record verifies and says the same as the record.
	ks, _ := NewKeySet("75", key.Public())
	claims, err := VerifyToken(got.Token, ks)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Reference != ref || claims.Name != got.NameHash || claims.KeyID != key.ID ||
		!claims.IssuedOn.Equal(date(2026, 3, 1)) || !claims.ExpiresOn.Equal(got.ExpiresOn) {
		t.Errorf("token claims %+v disagree with the record %+v", claims, got)
	}

	list, err := reg.List(ctx, "75")
	if err != nil || len(list) != 1 || list[0].Reference != inv.Reference {
		t.Errorf("List(75) = %+v, %v", list, err)
	}
	if list, err := reg.List(ctx, "92"); err != nil || len(list) != 0 {
		t.Errorf("List(92) = %+v, %v", list, err)
	}

	other := Reference{Code: "75", Year: 2026, Body: "00000000"}
	if _, _, err := reg.Get(ctx, "75", other); !errors.Is(err, ErrInvitationNotFound) || !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(missing) error = %v, want ErrInvitationNotFound and storage.ErrNotFound", err)
	}
	if _, _, err := reg.Get(ctx, "92", ref); !errors.Is(err, ErrInvitationNotFound) {
		t.Errorf("Get(reference of 75 at site 92) error = %v, want ErrInvitationNotFound", err)
	}
}

// repeatRand yields the same bytes for its first n reads, then random ones:
// the second Issue draws the first one's reference before a fresh one.
type repeatRand struct {
	mu    sync.Mutex
	fixed []byte
	n     int
	rest  io.Reader
}

func (r *repeatRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n > 0 && len(p) <= len(r.fixed) {
		r.n--
		return copy(p, r.fixed), nil
	}
	return r.rest.Read(p)
}

func TestRegistryIssueCollision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, _ := newTestRegistry(t)
	reg.Random = &repeatRand{fixed: []byte{1, 2, 3, 4, 5}, n: 2, rest: newTestRand(5)}
	key := testKey(t, "75", date(2026, 1, 15), 1)
	first, err := reg.Issue(ctx, testIssueRequest(t), key)
	if err != nil {
		t.Fatal(err)
	}
	req := testIssueRequest(t)
	req.Name = "Jean Dupont"
	second, err := reg.Issue(ctx, req, key)
	if err != nil {
		t.Fatal(err)
	}
	if first.Reference == second.Reference {
		t.Fatalf("two invitations share the reference %s", first.Reference)
	}
	ref, _ := ParseReference(first.Reference)
	got, _, err := reg.Get(ctx, "75", ref)
	if err != nil || got.Name != "Élodie N'Diaye" {
		t.Errorf("first invitation after the collision: %+v, %v (overwritten?)", got, err)
	}
}

func TestRegistryIssueRequestErrors(t *testing.T) {
	t.Parallel()
	reg, _ := newTestRegistry(t)
	key := testKey(t, "75", date(2026, 1, 15), 1)
	breakers := map[string]func(*IssueRequest){
		"no name":        func(r *IssueRequest) { r.Name = "  " },
		"no department":  func(r *IssueRequest) { r.Department = "" },
		"no issuer":      func(r *IssueRequest) { r.IssuedBy = "" },
		"key of 75, 92":  func(r *IssueRequest) { r.Site = "92" },
		"bad site":       func(r *IssueRequest) { r.Site = "Paris" },
		"expires before": func(r *IssueRequest) { r.ExpiresOn = date(2026, 2, 28) },
		"no date":        func(r *IssueRequest) { r.Now = time.Time{} },
	}
	for name, breakIt := range breakers {
		req := testIssueRequest(t)
		breakIt(&req)
		if _, err := reg.Issue(context.Background(), req, key); !errors.Is(err, ErrInvitationRequest) {
			t.Errorf("Issue(%s) error = %v, want ErrInvitationRequest", name, err)
		}
	}
	if list, _ := reg.List(context.Background(), "75"); len(list) != 0 {
		t.Errorf("refused requests left %d records", len(list))
	}
}

func TestRegistryRevoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, _ := newTestRegistry(t)
	inv, err := reg.Issue(ctx, testIssueRequest(t), testKey(t, "75", date(2026, 1, 15), 1))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := inv.ParsedReference()
	at := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	got, err := reg.Revoke(ctx, "75", ref, "supervisor-7", "lettre envoyée à une mauvaise adresse", at)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revoked == nil || got.Revoked.By != "supervisor-7" || !got.Revoked.At.Equal(at) {
		t.Fatalf("Revoke = %+v", got.Revoked)
	}
	again, err := reg.Revoke(ctx, "75", ref, "supervisor-8", "autre motif", at.Add(time.Hour))
	if err != nil || again.Revoked.By != "supervisor-7" || again.Revoked.Reason != "lettre envoyée à une mauvaise adresse" {
		t.Errorf("second Revoke = %+v, %v; want the first revocation kept", again.Revoked, err)
	}
	stored, _, err := reg.Get(ctx, "75", ref)
	if err != nil || stored.Revoked == nil || stored.Revoked.By != "supervisor-7" {
		t.Errorf("stored revocation: %+v, %v", stored.Revoked, err)
	}
	if _, err := reg.Revoke(ctx, "75", ref, "", "x", at); !errors.Is(err, ErrInvitationRequest) {
		t.Errorf("Revoke without author: %v, want ErrInvitationRequest", err)
	}
	missing := Reference{Code: "75", Year: 2026, Body: "00000000"}
	if _, err := reg.Revoke(ctx, "75", missing, "s", "r", at); !errors.Is(err, ErrInvitationNotFound) {
		t.Errorf("Revoke(missing) error = %v, want ErrInvitationNotFound", err)
	}
}

func TestRegistryConsume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, _ := newTestRegistry(t)
	inv, err := reg.Issue(ctx, testIssueRequest(t), testKey(t, "75", date(2026, 1, 15), 1))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := inv.ParsedReference()
	at := time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)
	h := HashName("Élodie N'Diaye")
	got, err := reg.Consume(ctx, "75", ref, "75-2026-000001", h, at)
	if err != nil || len(got.ConsumedBy) != 1 || got.ConsumedBy[0].NameHash != h {
		t.Fatalf("Consume = %+v, %v", got.ConsumedBy, err)
	}
	// Reprocessing the same dossier changes nothing.
	got, err = reg.Consume(ctx, "75", ref, "75-2026-000001", h, at.Add(time.Hour))
	if err != nil || len(got.ConsumedBy) != 1 || !got.ConsumedBy[0].At.Equal(at) {
		t.Fatalf("Consume again = %+v, %v", got.ConsumedBy, err)
	}
	if got.ConsumedByOther("75-2026-000001") {
		t.Error("ConsumedByOther true with only this dossier")
	}
	got, err = reg.Consume(ctx, "75", ref, "75-2026-000002", NameHash{}, at.Add(2*time.Hour))
	if err != nil || len(got.ConsumedBy) != 2 {
		t.Fatalf("Consume by a second dossier = %+v, %v", got.ConsumedBy, err)
	}
	if !got.ConsumedByOther("75-2026-000001") {
		t.Error("ConsumedByOther false with a second dossier")
	}
	stored, _, _ := reg.Get(ctx, "75", ref)
	if len(stored.ConsumedBy) != 2 || stored.ConsumedBy[1].Dossier != "75-2026-000002" {
		t.Errorf("stored consumptions: %+v", stored.ConsumedBy)
	}
}

// TestRegistryConcurrentConsume: workers recording different dossiers at the
// same time lose none of them (IfMatch and retry).
func TestRegistryConcurrentConsume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, _ := newTestRegistry(t)
	inv, err := reg.Issue(ctx, testIssueRequest(t), testKey(t, "75", date(2026, 1, 15), 1))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := inv.ParsedReference()
	const workers = 6
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := reg.Consume(ctx, "75", ref, fmt.Sprintf("75-2026-%06d", i+1), NameHash{}, time.Now())
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, ErrRegistryContention) {
			t.Errorf("concurrent Consume: %v", err)
		}
	}
	got, _, err := reg.Get(ctx, "75", ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ConsumedBy) != workers {
		t.Errorf("%d consumptions recorded, want %d: %+v", len(got.ConsumedBy), workers, got.ConsumedBy)
	}
}

func TestRegistryRejectsForeignRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, b := newTestRegistry(t)
	ref := Reference{Code: "75", Year: 2026, Body: "ABCDEFGH"}
	for name, body := range map[string]string{
		"not json":      "{",
		"future schema": `{"schema": 99, "site": "75", "reference": "` + ref.String() + `"}`,
		"other record":  `{"schema": 1, "site": "75", "reference": "INV-75-2026-0000-0000-14"}`,
	} {
		if _, err := b.Put(ctx, storage.InvitationKey("75", ref.String()), bytes.NewReader([]byte(body)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := reg.Get(ctx, "75", ref); err == nil {
			t.Errorf("Get accepted a record with %s", name)
		}
	}
}
