package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// CCCConfig is the ccc section: how an attestation of the centre de contact
// citoyens is recognised and verified (arrêté 2023-08-01 art. 4 al. 2).
type CCCConfig struct {
	Domains              []CCCDomain `yaml:"domains" doc:"Mail domains of the CCC with their pinned DKIM keys. A forwarded CCC email whose DKIM signature verifies against one of these keys is proof; keys are never fetched from the DNS."`
	ImpossibilityPhrases []string    `yaml:"impossibility_phrases" doc:"Phrases showing that filing online was impossible, looked for (ignoring case and accents) in the texts of a submission; finding one without verifiable proof gives a_verifier."`
	TicketPattern        string      `yaml:"ticket_pattern" doc:"Regular expression (Go syntax) finding a CCC ticket number in a text; its first group, or the whole match without a group, is the number. Empty: tickets are not looked for."`
	RegistryFile         string      `yaml:"registry_file" doc:"File of CCC ticket numbers known to be genuine (one per line, or the first column of a CSV export), read again when it changes. A ticket found there is proof. Empty: no registry, a ticket alone gives a_verifier."`
}

// CCCDomain is one sending domain of the CCC and its pinned keys.
type CCCDomain struct {
	Domain    string    `yaml:"domain" doc:"Domain of the DKIM signature (its d= tag)."`
	Selectors []DKIMKey `yaml:"selectors" doc:"Its DKIM keys, by selector. Keep a retired selector for as long as attestations it signed may still arrive."`
}

// DKIMKey is one pinned DKIM public key.
type DKIMKey struct {
	Selector  string `yaml:"selector" doc:"Selector (the s= tag), as published at <selector>._domainkey.<domain>."`
	KeyType   string `yaml:"key_type" doc:"rsa or ed25519 (the k= tag)."`
	PublicKey string `yaml:"public_key" doc:"The public key: the p= value of the DNS record (base64 DER), or a PEM PUBLIC KEY block."`
}

// TXTRecord returns the key as the DNS TXT record DKIM verifiers expect
// (RFC 6376 §3.6.1), with the key normalised to base64 DER.
func (k DKIMKey) TXTRecord() (string, error) {
	der, err := k.der()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("v=DKIM1; k=%s; p=%s", k.KeyType, base64.StdEncoding.EncodeToString(der)), nil
}

// der decodes and checks the public key.
func (k DKIMKey) der() ([]byte, error) {
	s := strings.TrimSpace(k.PublicKey)
	var b []byte
	if strings.HasPrefix(s, "-----BEGIN") {
		blk, _ := pem.Decode([]byte(s))
		if blk == nil || blk.Type != "PUBLIC KEY" {
			return nil, errors.New("not a PEM PUBLIC KEY block")
		}
		b = blk.Bytes
	} else {
		var err error
		// DNS records are often copied with spaces where strings were split.
		if b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), "")); err != nil {
			return nil, errors.New("not base64")
		}
	}
	switch k.KeyType {
	case "rsa":
		pub, err := x509.ParsePKIXPublicKey(b)
		if err != nil {
			// RFC 6376 erratum 3017: RSAPublicKey is met as well.
			if pub, err = x509.ParsePKCS1PublicKey(b); err != nil {
				return nil, errors.New("not an RSA public key in DER")
			}
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an RSA key", pub)
		}
		// RFC 8301 §3.2: keys under 1024 bits must not verify.
		if rk.Size()*8 < 1024 {
			return nil, fmt.Errorf("RSA key of %d bits, under the 1024 of RFC 8301", rk.Size()*8)
		}
	case "ed25519":
		if len(b) != 32 { // RFC 8463 §4.2: the bare 32-byte key
			return nil, fmt.Errorf("Ed25519 key of %d bytes, want 32", len(b))
		}
	default:
		return nil, fmt.Errorf("key_type %q: want rsa or ed25519", k.KeyType)
	}
	return b, nil
}

// LookupTXT answers DKIM key queries (<selector>._domainkey.<domain>) from
// the pinned keys only, as dkim.VerifyOptions.LookupTXT: verification never
// depends on the DNS, which the sender controls.
func (c CCCConfig) LookupTXT(name string) ([]string, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, d := range c.Domains {
		for _, k := range d.Selectors {
			if name == strings.ToLower(k.Selector+"._domainkey."+d.Domain) {
				rec, err := k.TXTRecord()
				if err != nil {
					return nil, fmt.Errorf("pinned key %s: %w", name, err)
				}
				return []string{rec}, nil
			}
		}
	}
	return nil, fmt.Errorf("no pinned DKIM key for %s", name)
}

// TicketRegexp compiles ticket_pattern; nil when it is empty.
func (c CCCConfig) TicketRegexp() (*regexp.Regexp, error) {
	if c.TicketPattern == "" {
		return nil, nil
	}
	return regexp.Compile(c.TicketPattern)
}

var reLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// validDomain checks a host name of two labels or more (RFC 1123 §2.1);
// internationalised names are written in their A-label (xn--) form.
func validDomain(d string) bool {
	labels := strings.Split(strings.TrimSuffix(d, "."), ".")
	if len(d) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !reLabel.MatchString(l) {
			return false
		}
	}
	return true
}

var reSelector = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)*$`)

func (c *CCCConfig) validate(ck *checker, p string) {
	domains := map[string]int{}
	for i, d := range c.Domains {
		dp := fmt.Sprintf("%s.domains[%d]", p, i)
		if d.Domain == "" {
			ck.errorf(dp+".domain", "required")
		} else if !validDomain(d.Domain) {
			ck.errorf(dp+".domain", "%q is not a domain name", d.Domain)
		} else if j, dup := domains[strings.ToLower(d.Domain)]; dup {
			ck.errorf(dp+".domain", "%q is already domains[%d]", d.Domain, j)
		} else {
			domains[strings.ToLower(d.Domain)] = i
		}
		if len(d.Selectors) == 0 {
			ck.errorf(dp+".selectors", "at least one selector is required")
		}
		sels := map[string]int{}
		for j, k := range d.Selectors {
			kp := fmt.Sprintf("%s.selectors[%d]", dp, j)
			if !reSelector.MatchString(k.Selector) {
				ck.errorf(kp+".selector", "%q is not a DKIM selector", k.Selector)
			} else if x, dup := sels[strings.ToLower(k.Selector)]; dup {
				ck.errorf(kp+".selector", "%q is already selectors[%d]", k.Selector, x)
			}
			sels[strings.ToLower(k.Selector)] = j
			if k.KeyType != "rsa" && k.KeyType != "ed25519" {
				ck.errorf(kp+".key_type", "%q: want rsa or ed25519", k.KeyType)
			} else if _, err := k.der(); err != nil {
				ck.errorf(kp+".public_key", "%v", err)
			}
		}
	}
	for i, ph := range c.ImpossibilityPhrases {
		if len([]rune(strings.TrimSpace(ph))) < 4 {
			ck.errorf(fmt.Sprintf("%s.impossibility_phrases[%d]", p, i), "%q is too short to mean anything", ph)
		}
	}
	if re, err := c.TicketRegexp(); err != nil {
		ck.errorf(p+".ticket_pattern", "does not compile: %v", err)
	} else if re != nil && re.MatchString("") {
		// A pattern matching nothing at all would find a "ticket" in every text.
		ck.errorf(p+".ticket_pattern", "matches the empty string")
	}
}
