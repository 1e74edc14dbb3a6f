package validate

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"recevable/storage"
)

// Verification of prefecture invitations (DESIGN.md, "Evidence kinds"): the
// token's signature under a key the receiving site trusts, the reference's
// check digits, and the registry record — exists, issued by this site, not
// revoked, not expired on the date that counts, not used by another
// applicant — and the name it was issued to. arrêté 2023-08-01 art. 4 al. 2:
// "invité par la préfecture territorialement compétente".

// invitationCandidate gathers everything seen of one invitation: typed or
// printed references, and QR tokens.
type invitationCandidate struct {
	key    string // canonical reference, or the text as written
	ref    Reference
	refErr error // the typed reference does not parse
	typed  []string
	tokens []tokenSighting
}

func (c *invitationCandidate) wheres() []string {
	var out []string
	for _, t := range c.tokens {
		out = appendOnce(out, t.where)
	}
	for _, w := range c.typed {
		out = appendOnce(out, w)
	}
	return out
}

// groupInvitations merges sightings of the same reference.
func groupInvitations(refs []refSighting, tokens []tokenSighting) []*invitationCandidate {
	var out []*invitationCandidate
	byKey := map[string]*invitationCandidate{}
	get := func(key string, ref Reference, refErr error) *invitationCandidate {
		if c, ok := byKey[key]; ok {
			return c
		}
		c := &invitationCandidate{key: key, ref: ref, refErr: refErr}
		byKey[key] = c
		out = append(out, c)
		return c
	}
	for _, t := range tokens {
		if cl, err := ParseTokenUnverified(t.token); err == nil {
			c := get(cl.Reference.String(), cl.Reference, nil)
			c.tokens = append(c.tokens, t)
			continue
		}
		c := get("code "+t.where, Reference{}, ErrTokenMalformed)
		c.tokens = append(c.tokens, t)
	}
	for _, r := range refs {
		key := strings.ToUpper(r.found.Text)
		if r.found.Err == nil {
			key = r.found.Ref.String()
		}
		c := get(key, r.found.Ref, r.found.Err)
		c.typed = appendOnce(c.typed, r.where)
	}
	return out
}

// verification is the context of one submission's checks.
type verification struct {
	site SiteInfo
	s    *Submission
	e    *evidenceSearch
	// day is the calendar day that counts for expiry and revocation: the
	// postmark for a letter (CRPA L112-1), else the day of receipt at the
	// site; dayWhat says which, in French.
	day     time.Time
	dayWhat string
}

func (a *EvidenceAssessor) newVerification(site SiteInfo, s *Submission, e *evidenceSearch) *verification {
	v := &verification{site: site, s: s, e: e}
	loc := site.Location
	if loc == nil {
		loc = time.UTC
	}
	if s.Channel == storage.ChannelPostal && s.Postmark != nil && !s.Postmark.IsZero() {
		// A postmark is a date: its own calendar day, whatever the zone.
		v.day, v.dayWhat = CivilDay(*s.Postmark), "cachet de la poste du "+frenchDay(*s.Postmark)
	} else {
		v.day, v.dayWhat = CivilDay(s.ReceivedAt.In(loc)), "réception le "+frenchDay(s.ReceivedAt.In(loc))
	}
	return v
}

// invitationCheck accumulates the checks of one invitation.
type invitationCheck struct {
	f Finding
}

func (c *invitationCheck) check(name string, ok bool, detail string) {
	c.f.Evidence.Checks = append(c.f.Evidence.Checks, storage.Check{Name: name, OK: ok, Detail: detail})
}

func (c *invitationCheck) done(verdict string, r storage.Reason) Finding {
	c.f.Evidence.Verdict = verdict
	c.f.Reason = r
	return c.f
}

// verifyInvitation checks one candidate. Its error is an infrastructure
// failure only (the registry could not be read).
func (a *EvidenceAssessor) verifyInvitation(ctx context.Context, v *verification, cand *invitationCandidate) (Finding, error) {
	c := &invitationCheck{f: Finding{Evidence: storage.Evidence{
		Kind: storage.EvidenceInvitation, Where: strings.Join(cand.wheres(), " ; "), Value: cand.key,
	}}}
	site := v.site

	// The tokens, when there are: every code shown is checked, and one
	// forged code makes the invitation forged whatever the others say; of
	// the others, the best verified one is kept (tokenRank).
	var token string
	sigOK, unknownKey, retired := false, false, false
	ref := cand.ref
	type verifiedToken struct {
		tokenSighting
		cl  Claims
		err error
	}
	tokens := make([]verifiedToken, len(cand.tokens))
	for i, t := range cand.tokens {
		cl, err := VerifyToken(t.token, site.Keys)
		tokens[i] = verifiedToken{t, cl, err}
	}
	slices.SortStableFunc(tokens, func(x, y verifiedToken) int { return tokenRank(x.err) - tokenRank(y.err) })
	for _, t := range tokens {
		cl, err := t.cl, t.err
		switch {
		case err == nil:
			c.check("signature", true, "signée par la clé "+cl.KeyID)
			token, sigOK, ref = t.token, true, cl.Reference
		case errors.Is(err, ErrWrongSite):
			// Genuine, but issued by another site.
			c.f.Evidence.Value = cl.Reference.String()
			c.check("signature", true, "signée par la clé "+cl.KeyID+" du site "+cl.Site)
			issuer, ok := a.territory.Site(cl.Site)
			if !ok {
				issuer = SiteInfo{ID: cl.Site}
			}
			return a.otherSite(ctx, v, c, issuer, cl.Reference, true)
		case errors.Is(err, ErrUnknownKey):
			cl, _ := ParseTokenUnverified(t.token)
			c.check("signature", false, "clé inconnue : "+cl.KeyID)
			token, unknownKey, ref = t.token, true, cl.Reference
		case errors.Is(err, ErrKeyRetired):
			cl, _ := ParseTokenUnverified(t.token)
			c.check("signature", false, "clé "+cl.KeyID+" retirée avant la date de délivrance du jeton")
			token, retired, ref = t.token, true, cl.Reference
		case errors.Is(err, ErrBadSignature), errors.Is(err, ErrKeySite):
			cl, _ := ParseTokenUnverified(t.token)
			if !cl.Reference.IsZero() {
				c.f.Evidence.Value = cl.Reference.String()
			}
			detail := "signature invalide : code falsifié ou modifié"
			if errors.Is(err, ErrKeySite) {
				detail = "signée par la clé d'un autre service que celui qu'elle désigne"
			}
			c.check("signature", false, detail)
			return c.done(VerdictInvalid, reason(ReasonForged, c.f.Evidence.Value, detail)), nil
		default: // malformed, unknown version
			c.check("code_readable", false, "code QR commençant comme une invitation mais illisible")
			if len(cand.typed) == 0 || cand.refErr != nil {
				return c.done(VerdictUnverifiable, reason(ReasonCodeUnreadable, t.where)), nil
			}
			continue // the typed reference of the same invitation is checked below
		}
		break // the best token decides; the rest were ranked no better
	}

	// The reference.
	if token == "" && cand.refErr != nil {
		detail := "caractères de contrôle faux"
		if !errors.Is(cand.refErr, ErrRefChecksum) {
			detail = "forme incorrecte"
		}
		c.check("reference_checksum", false, detail)
		suggest, err := a.nearReferences(ctx, v.site.ID, cand.key)
		if err != nil {
			return Finding{}, err
		}
		return c.done(VerdictUnverifiable, reason(ReasonReferenceTypo, cand.key, detail, suggest)), nil
	}
	c.f.Evidence.Value = ref.String()
	if token == "" {
		c.check("reference_checksum", true, "")
	}
	issuer, known := a.territory.ByCode(ref.Code)
	if !known {
		c.check("issuing_site", false, "service "+ref.Code+" inconnu")
		return c.done(VerdictUnverifiable, reason(ReasonSiteUnknown, ref.String(), ref.Code)), nil
	}
	if issuer.ID != site.ID {
		return a.otherSite(ctx, v, c, issuer, ref, sigOK)
	}

	// The registry of this site.
	inv, _, err := a.registry.Get(ctx, site.ID, ref)
	if errors.Is(err, ErrInvitationNotFound) {
		c.check("registry", false, "absente du registre de "+site.label())
		switch {
		case sigOK:
			return c.done(VerdictUnverifiable, reason(ReasonNotInRegistry, ref.String())), nil
		case unknownKey:
			return c.done(VerdictUnverifiable, reason(ReasonKeyUnknown, ref.String(), keyOf(token))), nil
		case retired:
			return c.done(VerdictInvalid, reason(ReasonForged, ref.String(), "clé retirée, invitation inconnue du registre")), nil
		}
		return c.done(VerdictInvalid, reason(ReasonUnknown, ref.String(), site.label())), nil
	}
	if err != nil {
		return Finding{}, fmt.Errorf("invitation registry: %w", err)
	}
	c.check("registry", true, "délivrée le "+frenchDay(inv.IssuedAt.In(locOf(site))))
	how := "registre"
	if token != "" {
		if inv.Token != token {
			c.check("registry_token", false, "le code présenté n'est pas celui de la lettre délivrée")
			switch {
			case unknownKey:
				return c.done(VerdictUnverifiable, reason(ReasonKeyUnknown, ref.String(), keyOf(token))), nil
			case retired:
				return c.done(VerdictInvalid, reason(ReasonForged, ref.String(), "clé retirée, code différent de celui délivré")), nil
			}
			return c.done(VerdictUnverifiable, reason(ReasonRegistryMismatch, ref.String())), nil
		}
		c.check("registry_token", true, "code identique à celui de la lettre délivrée")
		if retired {
			return c.done(VerdictUnverifiable, reason(ReasonKeyRetiredRegistered, ref.String())), nil
		}
		if sigOK {
			how = "signature et registre"
		}
	}
	c.check("issuing_site", true, site.label())

	// The name, then the consumption: recorded whatever the state of the
	// invitation, so that the registry remembers every use.
	nameWhere := a.matchName(v, inv.NameHash)
	used := inv.NameHash
	if nameWhere == "" {
		used = NameHash{}
		if n := strings.TrimSpace(v.s.Sender.Name); n != "" {
			used = HashName(n)
		}
	}
	if !a.dryRun && v.s.Dossier != "" {
		inv, err = a.registry.Consume(ctx, site.ID, ref, v.s.Dossier, used, a.now())
		if err != nil {
			return Finding{}, fmt.Errorf("invitation registry: %w", err)
		}
	}
	a.consumption(c, v, inv, used)

	// Revocation and expiry, on the day that counts.
	if inv.Revoked != nil {
		revDay := CivilDay(inv.Revoked.At.In(locOf(site)))
		if revDay.After(v.day) {
			c.check("not_revoked", false, "révoquée le "+frenchDay(revDay)+", après la date retenue")
			return c.done(VerdictUnverifiable, reason(ReasonRevokedAfterSending, ref.String(), frenchDay(revDay), v.dayWhat)), nil
		}
		c.check("not_revoked", false, "révoquée le "+frenchDay(revDay))
		return c.done(VerdictInvalid, reason(ReasonRevoked, ref.String(), frenchDay(revDay))), nil
	}
	c.check("not_revoked", true, "")
	if v.day.After(inv.ExpiresOn) {
		c.check("not_expired", false, "expirée le "+frenchDay(inv.ExpiresOn)+" ; date retenue : "+v.dayWhat)
		late := v.day.Sub(inv.ExpiresOn)
		if v.s.Channel == storage.ChannelPostal && (v.s.Postmark == nil || v.s.Postmark.IsZero()) && late <= a.postmarkGrace {
			return c.done(VerdictUnverifiable, reason(ReasonExpiredNoPostmark, ref.String(), frenchDay(inv.ExpiresOn), frenchDay(v.day))), nil
		}
		return c.done(VerdictInvalid, reason(ReasonExpired, ref.String(), frenchDay(inv.ExpiresOn), v.dayWhat)), nil
	}
	c.check("not_expired", true, "valable jusqu'au "+frenchDay(inv.ExpiresOn)+" ; date retenue : "+v.dayWhat)

	// Territory: the department the invitation was issued for.
	if inv.Department != "" && !site.Serves(inv.Department) {
		c.check("territory", false, "département "+inv.Department)
		c.f.Flags = append(c.f.Flags, reason(ReasonTerritoryDepartment, ref.String(), inv.Department, a.territory.competentLabel(inv.Department)))
	}
	// The name.
	switch {
	case nameWhere != "":
		c.check("name", true, "nom de l'invitation retrouvé : "+nameWhere)
	case strings.TrimSpace(v.s.Sender.Name) != "":
		c.check("name", false, "nom de l'expéditeur différent, nom de l'invitation absent des textes")
		c.f.Flags = append(c.f.Flags, reason(ReasonNameMismatch, ref.String()))
	default:
		v.e.tracef("%s: no name to compare with the invitation's", ref)
	}
	return c.done(VerdictValid, reason(ReasonInvitationValid, ref.String(), how, frenchDay(inv.ExpiresOn))), nil
}

// tokenRank orders the outcomes of VerifyToken, most telling first: a
// forgery, then a verified token, another site's, an unknown or retired key,
// an unreadable code.
func tokenRank(err error) int {
	switch {
	case errors.Is(err, ErrBadSignature), errors.Is(err, ErrKeySite):
		return 0
	case err == nil:
		return 1
	case errors.Is(err, ErrWrongSite):
		return 2
	case errors.Is(err, ErrUnknownKey):
		return 3
	case errors.Is(err, ErrKeyRetired):
		return 4
	}
	return 5
}

// consumption compares the other dossiers that presented the invitation:
// the same applicant again is linked; another name is flagged.
func (a *EvidenceAssessor) consumption(c *invitationCheck, v *verification, inv Invitation, used NameHash) {
	var others, different []string
	for _, u := range inv.ConsumedBy {
		if u.Dossier == v.s.Dossier {
			continue
		}
		others = appendOnce(others, u.Dossier)
		if !u.NameHash.IsZero() && !used.IsZero() && u.NameHash != used {
			different = appendOnce(different, u.Dossier)
		}
	}
	c.f.Linked = others
	switch {
	case len(different) > 0:
		c.check("not_consumed_by_other", false, "déjà présentée sous un autre nom : "+strings.Join(different, ", "))
		c.f.Flags = append(c.f.Flags, reason(ReasonConsumedByOther, inv.Reference, strings.Join(different, ", ")))
	case len(others) > 0:
		c.check("not_consumed_by_other", true, "déjà présentée dans "+strings.Join(others, ", "))
		c.f.Notes = append(c.f.Notes, reason(ReasonInvitationReused, strings.Join(others, ", ")))
	default:
		c.check("not_consumed_by_other", true, "")
	}
}

// otherSite judges an invitation of another configured site (or of an
// unknown one trusted by its key). It is not this prefecture's: proposed
// inadmissible, unless the two sites serve a common department (a
// prefecture and its sub-prefecture) or this site serves the applicant's
// department, where a person decides.
func (a *EvidenceAssessor) otherSite(ctx context.Context, v *verification, c *invitationCheck, issuer SiteInfo, ref Reference, genuine bool) (Finding, error) {
	c.f.Evidence.Value = ref.String()
	c.check("issuing_site", false, "délivrée par "+issuer.label()+", pas par "+v.site.label())
	dept := ""
	if _, ok := a.territory.Site(issuer.ID); ok {
		inv, _, err := a.registry.Get(ctx, issuer.ID, ref)
		switch {
		case err == nil:
			dept = inv.Department
			c.check("registry", true, "au registre de "+issuer.label()+", département "+orDash(dept))
		case errors.Is(err, ErrInvitationNotFound):
			c.check("registry", false, "absente du registre de "+issuer.label())
			if !genuine {
				return c.done(VerdictInvalid, reason(ReasonUnknown, ref.String(), issuer.label())), nil
			}
		default:
			return Finding{}, fmt.Errorf("invitation registry of %s: %w", issuer.ID, err)
		}
	}
	if shareDepartment(issuer, v.site) || (dept != "" && v.site.Serves(dept)) {
		return c.done(VerdictUnverifiable, reason(ReasonOtherSiteCheck, ref.String(), issuer.label())), nil
	}
	r := reason(ReasonOtherSite, ref.String(), issuer.label())
	if dept != "" {
		r.Text += fmt.Sprintf(" Département du demandeur : %s (%s).", dept, a.territory.competentLabel(dept))
	}
	return c.done(VerdictInvalid, r), nil
}

// matchName says where the name the invitation was issued to appears: the
// sender's name, or a run of words of a searched text. "" when nowhere.
func (a *EvidenceAssessor) matchName(v *verification, h NameHash) string {
	if h.IsZero() {
		return ""
	}
	if n := v.s.Sender.Name; n != "" && (HashName(n) == h || containsName(nameWords(n, 64), h)) {
		return "nom de l'expéditeur"
	}
	for i := range v.e.texts {
		if t := &v.e.texts[i]; containsName(t.nameWords(), h) {
			return t.where
		}
	}
	return ""
}

// maxSuggestScan bounds the registry keys read to suggest the reference a
// typo came from.
const maxSuggestScan = 50_000

// nearReferences lists, as a French clause, the references of the site's
// registry one typo away from what was written (one character changed,
// missing, added, or two swapped), at most three.
func (a *EvidenceAssessor) nearReferences(ctx context.Context, site, written string) (string, error) {
	want := squashReference(written)
	var near []string
	n := 0
	errStop := errors.New("stop")
	err := storage.ListAll(ctx, a.bucket, storage.InvitationPrefix(site), func(o storage.Info) error {
		if n++; n > maxSuggestScan || len(near) >= 3 {
			return errStop
		}
		ref := strings.TrimSuffix(path.Base(o.Key), ".json")
		if oneTypo(want, squashReference(ref)) {
			near = append(near, ref)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return "", fmt.Errorf("invitation registry: %w", err)
	}
	if len(near) == 0 {
		return "", nil
	}
	return " ; référence(s) proche(s) au registre : " + strings.Join(near, ", "), nil
}

// squashReference drops the prefix and the separators of a reference.
func squashReference(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		}
	}
	return strings.TrimPrefix(b.String(), referencePrefix)
}

// oneTypo reports whether a and b differ by one substitution, insertion,
// deletion or swap of adjacent characters.
func oneTypo(a, b string) bool {
	if a == b {
		return false
	}
	la, lb := len(a), len(b)
	switch {
	case la == lb:
		var diff []int
		for i := 0; i < la; i++ {
			if a[i] != b[i] {
				if diff = append(diff, i); len(diff) > 2 {
					return false
				}
			}
		}
		if len(diff) == 1 {
			return true
		}
		return diff[1] == diff[0]+1 && a[diff[0]] == b[diff[1]] && a[diff[1]] == b[diff[0]]
	case la == lb+1:
		return dropOne(a, b)
	case lb == la+1:
		return dropOne(b, a)
	}
	return false
}

// dropOne reports whether removing one character of long gives short.
func dropOne(long, short string) bool {
	i := 0
	for i < len(short) && long[i] == short[i] {
		i++
	}
	return long[i+1:] == short[i:]
}

func keyOf(token string) string {
	cl, err := ParseTokenUnverified(token)
	if err != nil {
		return "?"
	}
	return cl.KeyID
}

func locOf(s SiteInfo) *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

func orDash(s string) string {
	if s == "" {
		return "inconnu"
	}
	return s
}

// hasValid reports whether some finding is valid.
func hasValid(items []Finding) bool {
	return slices.ContainsFunc(items, func(f Finding) bool { return f.Evidence.Verdict == VerdictValid })
}
