package validate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"time"

	"recevable/storage"
)

// The invitation registry is the prefecture's own record of the invitations
// it issued, one JSON object per invitation at
// invitations/<site>/<reference>.json (storage.InvitationKey). It is how an
// invitation is verified when its QR code cannot be read (a typed reference),
// revoked, and tied to the dossiers that used it. Records change only by
// conditional writes (IfAbsent to create, IfMatch to update), so any number
// of workers and web nodes may share it.

// InvitationSchema is the version of the record JSON written here.
const InvitationSchema = 1

// Registry errors.
var (
	// ErrInvitationNotFound: no invitation under this reference (wraps
	// storage.ErrNotFound).
	ErrInvitationNotFound = errors.New("invitation not found")
	// ErrInvitationRequest: an IssueRequest lacks something.
	ErrInvitationRequest = errors.New("invalid invitation request")
	// ErrRegistryContention: a record kept changing under us.
	ErrRegistryContention = errors.New("invitation record changed too often; try again")
)

// Invitation is one issued invitation.
//
// Personal data: unlike the token, the record holds the applicant's name,
// email and postal address. It is the prefecture's own register, needed to
// print the letter again, to answer the applicant and to match the dossier
// that arrives; it is kept under the same rules as the dossiers (GDPR art. 5
// (1)(e) and 32) and never logged — log the site and the reference only.
type Invitation struct {
	Schema    int    `json:"schema"`
	Site      string `json:"site"`
	Reference string `json:"reference"` // canonical form, INV-…
	KeyID     string `json:"key_id"`
	// NameHash is HashName(Name), as in the token.
	NameHash NameHash `json:"name_hash"`
	Name     string   `json:"name"`
	Email    string   `json:"email,omitempty"`
	// PostalAddress of the applicant, to print the letter again.
	PostalAddress []string `json:"postal_address,omitempty"`
	// Department of residence declared by the applicant (arrêté 2023-08-01
	// art. 4 al. 3: the competent prefecture is that of this department).
	Department string    `json:"department"`
	IssuedAt   time.Time `json:"issued_at"`
	IssuedBy   string    `json:"issued_by"`
	// ExpiresOn is the last valid calendar day (midnight UTC stands for it).
	ExpiresOn time.Time `json:"expires_on"`
	// Token is the signed token printed on the letter.
	Token   string      `json:"token"`
	Revoked *Revocation `json:"revoked,omitempty"`
	// ConsumedBy lists the dossiers that presented this invitation, in the
	// order they were recorded. More than one is a reason to look closer,
	// not a refusal: a second sending of missing pieces is normal.
	ConsumedBy []Consumption `json:"consumed_by,omitempty"`
}

// Revocation records who withdrew an invitation, when and why.
type Revocation struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
}

// Consumption records a dossier that presented the invitation, with the hash
// of the name found in that dossier (zero when none was found).
type Consumption struct {
	Dossier  string    `json:"dossier"`
	NameHash NameHash  `json:"name_hash"`
	At       time.Time `json:"at"`
}

// ParsedReference returns the record's reference.
func (inv Invitation) ParsedReference() (Reference, error) { return ParseReference(inv.Reference) }

// ConsumedByOther reports whether a dossier other than this one has
// presented the invitation.
func (inv Invitation) ConsumedByOther(dossier string) bool {
	for _, c := range inv.ConsumedBy {
		if c.Dossier != dossier {
			return true
		}
	}
	return false
}

// IssueRequest is what Issue needs.
type IssueRequest struct {
	Site          string
	Department    string
	Name          string
	Email         string
	PostalAddress []string
	// IssuedBy is the account issuing it (audit).
	IssuedBy string
	// Now is the issue time in the site's time zone: its calendar day is the
	// issue date and its year the reference's.
	Now time.Time
	// ExpiresOn is the last valid day.
	ExpiresOn time.Time
}

// Registry stores invitation records in a bucket.
type Registry struct {
	b storage.Bucket
	// Random draws references; nil means crypto/rand. Tests set it.
	Random io.Reader
}

// NewRegistry returns the registry kept in b.
func NewRegistry(b storage.Bucket) *Registry { return &Registry{b: b} }

// issueAttempts bounds reference draws: with 40 random bits a collision is
// already unlikely once.
const issueAttempts = 8

// Issue draws a reference, signs the token with key and creates the record.
// A reference that already exists is never overwritten (IfAbsent): another
// one is drawn.
func (r *Registry) Issue(ctx context.Context, req IssueRequest, key SigningKey) (Invitation, error) {
	if err := req.check(key); err != nil {
		return Invitation{}, err
	}
	random := r.Random
	if random == nil {
		random = rand.Reader
	}
	issued := CivilDay(req.Now)
	for attempt := 0; attempt < issueAttempts; attempt++ {
		ref, err := NewReference(req.Site, req.Now.Year(), random)
		if err != nil {
			return Invitation{}, fmt.Errorf("issue invitation: %w", err)
		}
		claims := Claims{Site: req.Site, Reference: ref, IssuedOn: issued, ExpiresOn: CivilDay(req.ExpiresOn), Name: HashName(req.Name)}
		token, err := SignToken(claims, key)
		if err != nil {
			return Invitation{}, fmt.Errorf("issue invitation: %w", err)
		}
		inv := Invitation{
			Schema: InvitationSchema, Site: req.Site, Reference: ref.String(), KeyID: key.ID,
			NameHash: claims.Name, Name: strings.TrimSpace(req.Name), Email: strings.TrimSpace(req.Email),
			PostalAddress: req.PostalAddress, Department: req.Department,
			IssuedAt: req.Now.UTC(), IssuedBy: req.IssuedBy, ExpiresOn: claims.ExpiresOn, Token: token,
		}
		_, err = r.put(ctx, inv, storage.PutOptions{IfAbsent: true})
		if errors.Is(err, storage.ErrExists) {
			continue
		}
		if err != nil {
			return Invitation{}, fmt.Errorf("issue invitation: %w", err)
		}
		return inv, nil
	}
	return Invitation{}, fmt.Errorf("issue invitation: %d references drawn, all taken", issueAttempts)
}

func (req IssueRequest) check(key SigningKey) error {
	var bad []string
	if !validSiteID(req.Site) {
		bad = append(bad, fmt.Sprintf("site %q", req.Site))
	} else if key.Site != req.Site {
		bad = append(bad, fmt.Sprintf("key %s is of site %q", key.ID, key.Site))
	}
	if strings.TrimSpace(req.Name) == "" {
		bad = append(bad, "no name")
	}
	if req.Department == "" {
		bad = append(bad, "no department")
	}
	if req.IssuedBy == "" {
		bad = append(bad, "no issuer")
	}
	if req.Now.IsZero() || req.ExpiresOn.IsZero() {
		bad = append(bad, "no dates")
	} else if CivilDay(req.ExpiresOn).Before(CivilDay(req.Now)) {
		bad = append(bad, "expires before it is issued")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvitationRequest, strings.Join(bad, ", "))
	}
	return nil
}

// Get reads the invitation of site with this reference and its ETag.
func (r *Registry) Get(ctx context.Context, site string, ref Reference) (Invitation, storage.ETag, error) {
	key, err := invitationKey(site, ref)
	if err != nil {
		return Invitation{}, "", err
	}
	inv, etag, err := r.read(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return Invitation{}, "", fmt.Errorf("%w: %s: %w", ErrInvitationNotFound, ref, err)
	}
	if err != nil {
		return Invitation{}, "", fmt.Errorf("get invitation %s: %w", ref, err)
	}
	if inv.Site != site || inv.Reference != ref.String() {
		return Invitation{}, "", fmt.Errorf("get invitation %s: record names %s of site %s", ref, inv.Reference, inv.Site)
	}
	return inv, etag, nil
}

// List returns every invitation of site, in reference order.
func (r *Registry) List(ctx context.Context, site string) ([]Invitation, error) {
	if !validSiteID(site) {
		return nil, fmt.Errorf("list invitations: %w: site id %q", ErrRefSite, site)
	}
	var out []Invitation
	err := storage.ListAll(ctx, r.b, storage.InvitationPrefix(site), func(o storage.Info) error {
		inv, _, err := r.read(ctx, o.Key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // deleted between the listing and the read
		}
		if err != nil {
			return fmt.Errorf("%s: %w", o.Key, err)
		}
		out = append(out, inv)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list invitations of %s: %w", site, err)
	}
	return out, nil
}

// Revoke withdraws an invitation. Revoking it again keeps the first
// revocation and returns the record unchanged.
func (r *Registry) Revoke(ctx context.Context, site string, ref Reference, by, reason string, at time.Time) (Invitation, error) {
	if by == "" || strings.TrimSpace(reason) == "" {
		return Invitation{}, fmt.Errorf("revoke invitation %s: %w: who and why are required", ref, ErrInvitationRequest)
	}
	return r.update(ctx, site, ref, func(inv *Invitation) bool {
		if inv.Revoked != nil {
			return false
		}
		inv.Revoked = &Revocation{At: at.UTC(), Reason: reason, By: by}
		return true
	})
}

// Consume records that dossier presented the invitation, with the hash of
// the name found in it. Recording the same dossier again changes nothing, so
// reprocessing a dossier is harmless. It records whatever the state of the
// invitation (revoked, expired, already used): judging is the decision's job,
// the registry only remembers.
func (r *Registry) Consume(ctx context.Context, site string, ref Reference, dossier string, name NameHash, at time.Time) (Invitation, error) {
	if dossier == "" {
		return Invitation{}, fmt.Errorf("consume invitation %s: %w: no dossier", ref, ErrInvitationRequest)
	}
	return r.update(ctx, site, ref, func(inv *Invitation) bool {
		for _, c := range inv.ConsumedBy {
			if c.Dossier == dossier {
				return false
			}
		}
		inv.ConsumedBy = append(inv.ConsumedBy, Consumption{Dossier: dossier, NameHash: name, At: at.UTC()})
		return true
	})
}

// updateAttempts bounds the read-modify-write loop of update.
const updateAttempts = 10

// update applies change to the record and writes it back IfMatch, reading
// again when another writer got there first. change returns false when it
// has nothing to change.
func (r *Registry) update(ctx context.Context, site string, ref Reference, change func(*Invitation) bool) (Invitation, error) {
	for attempt := 0; attempt < updateAttempts; attempt++ {
		inv, etag, err := r.Get(ctx, site, ref)
		if err != nil {
			return Invitation{}, err
		}
		if !change(&inv) {
			return inv, nil
		}
		_, err = r.put(ctx, inv, storage.PutOptions{IfMatch: etag})
		if errors.Is(err, storage.ErrPreconditionFailed) {
			// Random backoff, growing, so that writers racing for the
			// same record do not collide again in lockstep.
			select {
			case <-ctx.Done():
				return Invitation{}, ctx.Err()
			case <-time.After(time.Duration(mrand.Int64N(int64(time.Millisecond) << min(attempt, 6)))):
			}
			continue
		}
		if err != nil {
			return Invitation{}, fmt.Errorf("update invitation %s: %w", ref, err)
		}
		return inv, nil
	}
	return Invitation{}, fmt.Errorf("update invitation %s: %w", ref, ErrRegistryContention)
}

// put writes inv in the encoding of every record of the bucket.
func (r *Registry) put(ctx context.Context, inv Invitation, o storage.PutOptions) (storage.ETag, error) {
	ref, err := inv.ParsedReference()
	if err != nil {
		return "", err
	}
	key, err := invitationKey(inv.Site, ref)
	if err != nil {
		return "", err
	}
	return storage.PutJSON(ctx, r.b, key, inv, o)
}

// read reads the record at key and checks its schema.
func (r *Registry) read(ctx context.Context, key string) (Invitation, storage.ETag, error) {
	var inv Invitation
	etag, err := storage.GetJSON(ctx, r.b, key, &inv)
	if err != nil {
		return Invitation{}, "", err
	}
	if inv.Schema < 1 || inv.Schema > InvitationSchema {
		return Invitation{}, "", fmt.Errorf("invitation record schema %d, this code reads 1 to %d", inv.Schema, InvitationSchema)
	}
	return inv, etag, nil
}

// invitationKey checks that ref belongs to site and returns its key.
func invitationKey(site string, ref Reference) (string, error) {
	code, err := SiteCode(site)
	if err != nil {
		return "", err
	}
	if ref.Code != code {
		return "", fmt.Errorf("%w: reference %s is not of site %s (code %s)", ErrInvitationNotFound, ref, site, code)
	}
	return storage.InvitationKey(site, ref.String()), nil
}
