package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/dkim"

	"recevable/storage"
)

// CCC attestations, the exception of arrêté 2023-08-01 art. 4 al. 2: "un
// document du centre de contact citoyens attestant de l'impossibilité de
// déposer sa demande en ligne". In practice an email of the CCC (LEGAL.md),
// which reaches the prefecture:
//   - forwarded as an attachment: its DKIM signature (RFC 6376) is verified
//     offline against the keys pinned in the configuration for the CCC's
//     domains — never the DNS, which whoever sends the message may control —
//     and its text must state the impossibility;
//   - as a ticket number in a text: matched against the imported registry
//     (cccregistry.go) when there is one;
//   - printed, or pasted into the applicant's email: not verifiable, a person
//     looks.

// CCCOptions configure the CCC checks.
type CCCOptions struct {
	// Domains are the CCC's mail domains (DKIM d= tags accepted).
	Domains []string
	// LookupTXT answers DKIM key queries from the pinned keys only (the
	// configuration's CCCConfig.LookupTXT). Nil: no key is pinned, every
	// signature is unverifiable. The DNS is never used.
	LookupTXT func(name string) ([]string, error)
	// Phrases state the impossibility of filing online; matched ignoring
	// case and accents.
	Phrases []string
	// Ticket finds a ticket number in a text (first group, or the match).
	// Nil: tickets are not looked for.
	Ticket *regexp.Regexp
	// Tickets are the registries a ticket is looked up in; none: a ticket
	// alone is unverifiable.
	Tickets []TicketRegistry
}

// cccChecker is CCCOptions prepared.
type cccChecker struct {
	domains []string // lower case
	lookup  func(string) ([]string, error)
	phrases *phraseMatcher
	ticket  *regexp.Regexp
	tickets []TicketRegistry
}

func newCCCChecker(o CCCOptions) *cccChecker {
	c := &cccChecker{lookup: o.LookupTXT, phrases: newPhraseMatcher(o.Phrases), ticket: o.Ticket, tickets: o.Tickets}
	for _, d := range o.Domains {
		if d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), ".")); d != "" {
			c.domains = append(c.domains, d)
		}
	}
	return c
}

// isDomain reports whether d is one of the CCC's domains.
func (c *cccChecker) isDomain(d string) bool {
	d = strings.ToLower(d)
	for _, x := range c.domains {
		if d == x {
			return true
		}
	}
	return false
}

// fromCCC reports whether a From domain is a CCC domain or under one.
func (c *cccChecker) fromCCC(from string) bool {
	for _, x := range c.domains {
		if from == x || strings.HasSuffix(from, "."+x) {
			return true
		}
	}
	return false
}

// aligned: the From domain is the signing domain or under it (DMARC relaxed
// alignment, RFC 7489 §3.1.1). A signature of the CCC's domain on a message
// "from" elsewhere proves nothing about who wrote it.
func aligned(from, d string) bool {
	d = strings.ToLower(d)
	return from == d || strings.HasSuffix(from, "."+d)
}

// maxDKIMSignatures bounds the signatures verified per message.
const maxDKIMSignatures = 8

// dkimOutcome is what DKIM says about one message.
type dkimOutcome struct {
	from     string
	verified string // the CCC domain whose aligned signature verified
	cccSigs  int    // signatures claiming a CCC domain
	unpinned string // a key name asked for and not pinned
	failure  string // why the last CCC signature failed
	unsigned bool   // no signature claims a CCC domain
}

// verifyDKIM checks the signatures of raw, retrying once with CRLF line
// ends when the message was stored with bare LFs (a mail client saving an
// .eml): DKIM canonicalisation works on CRLF lines (RFC 6376 §3.4).
func (c *cccChecker) verifyDKIM(ctx context.Context, raw []byte, lim Limits) (dkimOutcome, error) {
	lim = lim.withDefaults()
	return Guard(ctx, "dkim_verify", lim.ParserTimeout, func(context.Context) (dkimOutcome, error) {
		out := c.verifyOnce(raw)
		if out.verified == "" && out.cccSigs > 0 && out.unpinned == "" && bytes.Contains(raw, []byte("\n")) && !bytes.Contains(raw, []byte("\r\n")) {
			if again := c.verifyOnce(bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))); again.verified != "" {
				return again, nil
			}
		}
		return out, nil
	})
}

func (c *cccChecker) verifyOnce(raw []byte) dkimOutcome {
	out := dkimOutcome{from: messageFrom(raw)}
	// go-msgauth verifies several signatures in parallel goroutines.
	var mu sync.Mutex
	unpinned := map[string]bool{}
	lookup := func(name string) ([]string, error) {
		var recs []string
		err := errors.New("no pinned DKIM key")
		if c.lookup != nil {
			recs, err = c.lookup(name)
		}
		if err != nil {
			mu.Lock()
			unpinned[strings.ToLower(strings.TrimSuffix(name, "."))] = true
			mu.Unlock()
		}
		return recs, err
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxDKIMSignatures})
	if err != nil && len(verifs) == 0 {
		out.unsigned = true
		out.failure = "en-tête illisible"
		return out
	}
	for _, v := range verifs {
		if !c.isDomain(v.Domain) {
			continue
		}
		out.cccSigs++
		switch {
		case v.Err == nil && aligned(out.from, v.Domain):
			out.verified = strings.ToLower(v.Domain)
			return out
		case v.Err == nil:
			out.failure = "expéditeur hors du domaine signataire"
		case unpinnedFor(unpinned, v.Domain) != "":
			out.unpinned = unpinnedFor(unpinned, v.Domain)
		case strings.Contains(v.Err.Error(), "body hash"):
			out.failure = "corps du message modifié"
		case strings.Contains(v.Err.Error(), "expired"):
			out.failure = "signature expirée"
		default:
			out.failure = "signature invalide"
		}
	}
	out.unsigned = out.cccSigs == 0
	return out
}

// unpinnedFor returns the key name of domain d that was asked for and not
// pinned, or "".
func unpinnedFor(unpinned map[string]bool, d string) string {
	for name := range unpinned {
		if strings.HasSuffix(name, "._domainkey."+strings.ToLower(d)) {
			return name
		}
	}
	return ""
}

// verifyMessage assesses one forwarded message as a CCC attestation. ok is
// false when the message has nothing to do with the CCC (neither from nor
// signed by its domains).
func (a *EvidenceAssessor) verifyMessage(ctx context.Context, m embeddedMessage) (f Finding, ok bool, err error) {
	c := a.ccc
	d, err := c.verifyDKIM(ctx, m.raw, a.limits)
	if ctx.Err() != nil {
		return Finding{}, false, ctx.Err()
	}
	if err != nil {
		// The message could not even be read: a forwarded message that may
		// be the attestation, unverified.
		d = dkimOutcome{unsigned: true, failure: "message illisible"}
	}
	fromCCC := c.fromCCC(d.from)
	if !fromCCC && d.cccSigs == 0 {
		return Finding{}, false, nil
	}
	ev := storage.Evidence{Kind: storage.EvidenceCCCEmail, Where: m.where, Value: d.from}
	chk := func(name string, ok bool, detail string) {
		ev.Checks = append(ev.Checks, storage.Check{Name: name, OK: ok, Detail: detail})
	}
	label := "expéditeur @" + d.from
	switch {
	case d.verified != "":
		chk("dkim", true, "signature du domaine "+d.verified+" vérifiée avec la clé épinglée")
		chk("dkim_alignment", true, "expéditeur @"+d.from)
		if phrase := c.phrases.find(m.folded); phrase != "" {
			chk("impossibility_statement", true, "« "+phrase+" »")
			ev.Verdict = VerdictValid
			return Finding{Evidence: ev, Reason: reason(ReasonCCCEmailVerified, d.verified)}, true, nil
		}
		chk("impossibility_statement", false, "aucune formule configurée trouvée")
		ev.Verdict = VerdictUnverifiable
		return Finding{Evidence: ev, Reason: reason(ReasonCCCNoStatement, d.verified)}, true, nil
	case d.unpinned != "":
		chk("dkim", false, "clé non épinglée : "+d.unpinned)
		ev.Verdict = VerdictUnverifiable
		return Finding{Evidence: ev, Reason: reason(ReasonCCCKeyUnknown, label, d.unpinned)}, true, nil
	case d.cccSigs > 0:
		chk("dkim", false, d.failure)
		ev.Verdict = VerdictUnverifiable
		return Finding{Evidence: ev, Reason: reason(ReasonCCCDKIMFailed, label, d.failure)}, true, nil
	default:
		chk("dkim", false, "aucune signature d'un domaine du centre de contact citoyens")
		ev.Verdict = VerdictUnverifiable
		return Finding{Evidence: ev, Reason: reason(ReasonCCCUnsigned, label)}, true, nil
	}
}

// verifyTicket looks a ticket number up in the registries.
func (a *EvidenceAssessor) verifyTicket(ctx context.Context, ticket string, wheres []string) (Finding, error) {
	ev := storage.Evidence{Kind: storage.EvidenceCCCTicket, Where: strings.Join(wheres, " ; "), Value: ticket}
	configured := false
	for _, reg := range a.ccc.tickets {
		rec, err := reg.LookupTicket(ctx, ticket)
		switch {
		case err == nil:
			detail := "présent au registre"
			if rec.Date != "" {
				detail += ", du " + rec.Date
			}
			ev.Checks = append(ev.Checks, storage.Check{Name: "ticket_registry", OK: true, Detail: detail})
			ev.Verdict = VerdictValid
			return Finding{Evidence: ev, Reason: reason(ReasonCCCTicketRegistered, ticket)}, nil
		case errors.Is(err, ErrTicketNotFound):
			configured = true
		case errors.Is(err, ErrNoTicketRegistry):
		default:
			return Finding{}, fmt.Errorf("ccc ticket registry: %w", err)
		}
	}
	ev.Verdict = VerdictUnverifiable
	if configured {
		ev.Checks = append(ev.Checks, storage.Check{Name: "ticket_registry", OK: false, Detail: "absent du registre"})
		return Finding{Evidence: ev, Reason: reason(ReasonCCCTicketUnknown, ticket)}, nil
	}
	ev.Checks = append(ev.Checks, storage.Check{Name: "ticket_registry", OK: false, Detail: "aucun registre configuré"})
	return Finding{Evidence: ev, Reason: reason(ReasonCCCTicketUnverified, ticket)}, nil
}

// statements looks at the texts that do not speak of an invitation: a copy
// of a CCC email (its name or domain, and an impossibility phrase) is a
// printout; the phrase alone is the applicant's own statement.
func (a *EvidenceAssessor) statements(e *evidenceSearch) (printout *Finding, stated []storage.Reason) {
	var printWheres, statedWheres []string
	for _, t := range e.texts {
		if t.invitation {
			continue
		}
		phrase := a.ccc.phrases.find(t.folded)
		if phrase == "" {
			continue
		}
		if cccMarker(t.folded, a.ccc.domains) {
			printWheres = appendOnce(printWheres, t.where)
		} else {
			statedWheres = appendOnce(statedWheres, t.where)
		}
	}
	if len(printWheres) > 0 {
		where := strings.Join(printWheres, " ; ")
		printout = &Finding{
			Evidence: storage.Evidence{
				Kind: storage.EvidenceCCCPrint, Where: where, Verdict: VerdictUnverifiable,
				Checks: []storage.Check{{Name: "original_signed", OK: false, Detail: "copie sans l'original signé"}},
			},
			Reason: reason(ReasonCCCPrintout, where),
		}
	}
	if len(statedWheres) > 0 {
		stated = append(stated, reason(ReasonImpossibilityStated, strings.Join(statedWheres, " ; ")))
	}
	return printout, stated
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
