package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
	"recevable/validate"
)

// Wiring of package validate from the configuration: the sites with the keys
// they trust, the CCC checks, the limits, and the EvidenceAssessor that serve
// and demo give the pipeline (workers.Options.Assessor) and that `recevable
// check` runs in dry-run mode.

// assessorFromConfig builds the evidence search, verification and decision
// of c over bucket b. dryRun: nothing is written (no invitation consumed).
func assessorFromConfig(c *Config, b storage.Bucket, log zerolog.Logger, dryRun bool) (*validate.EvidenceAssessor, error) {
	sites, err := validateSites(c)
	if err != nil {
		return nil, err
	}
	ccc, err := cccOptions(c, b)
	if err != nil {
		return nil, err
	}
	return validate.NewAssessor(validate.AssessorOptions{
		Bucket: b, Sites: sites, CCC: ccc, Limits: documentLimits(c),
		DryRun: dryRun, Log: log,
	})
}

// documentLimits are the limits of the document checks and of the evidence
// search, from the limits section (the same as the pipeline's).
func documentLimits(c *Config) validate.Limits {
	l := c.Limits
	return validate.Limits{MaxBytes: l.MessageBytes(), MaxPages: l.PDFPages, MaxMegapixels: float64(l.ImageMegapixels)}
}

// validateSites describes every site for validate: departments, time zone,
// and the keys it trusts. Every site trusts every key listed anywhere in the
// configuration, for the site the key names: an invitation of a sister
// prefecture is then recognised as genuine, and flagged as another's
// (arrêté 2023-08-01 art. 4 al. 2) rather than unverifiable.
func validateSites(c *Config) ([]validate.SiteInfo, error) {
	keys, err := trustedKeys(c)
	if err != nil {
		return nil, err
	}
	out := make([]validate.SiteInfo, 0, len(c.Sites))
	for _, s := range c.Sites {
		loc, err := s.Location()
		if err != nil {
			return nil, fmt.Errorf("site %s: timezone: %w", s.ID, err)
		}
		ks, err := validate.NewKeySet(s.ID, keys...)
		if err != nil {
			return nil, fmt.Errorf("site %s: trusted keys: %w", s.ID, err)
		}
		out = append(out, validate.SiteInfo{ID: s.ID, Name: s.Name, Departments: s.Departments, Location: loc, Keys: ks})
	}
	return out, nil
}

// trustedKeys merges the trusted_keys of all sites. A key listed by several
// sites must be the same key for the same site; its retirement is the
// earliest one given, so that retiring a key in one place is enough.
func trustedKeys(c *Config) ([]validate.PublicKey, error) {
	var out []validate.PublicKey
	index := map[string]int{}
	for _, s := range c.Sites {
		for _, k := range s.TrustedKeys {
			pub, err := k.Ed25519()
			if err != nil {
				return nil, fmt.Errorf("site %s: trusted key %s: %w", s.ID, k.ID, err)
			}
			retired, err := k.Retirement()
			if err != nil {
				return nil, fmt.Errorf("site %s: trusted key %s: retired_on: %w", s.ID, k.ID, err)
			}
			pk := validate.PublicKey{ID: k.ID, Site: k.SiteOr(s.ID), Key: pub, RetiredOn: retired}
			i, seen := index[k.ID]
			if !seen {
				index[k.ID] = len(out)
				out = append(out, pk)
				continue
			}
			prev := &out[i]
			if !prev.Key.Equal(pk.Key) || prev.Site != pk.Site {
				return nil, fmt.Errorf("trusted key %s is listed with different keys or sites (%s, %s)", k.ID, prev.Site, pk.Site)
			}
			if !retired.IsZero() && (prev.RetiredOn.IsZero() || retired.Before(prev.RetiredOn)) {
				prev.RetiredOn = retired
			}
		}
	}
	return out, nil
}

// cccOptions translates the ccc section. The registries are the bucket's
// (recevable ccc import) and, when set, registry_file.
func cccOptions(c *Config, b storage.Bucket) (validate.CCCOptions, error) {
	re, err := c.CCC.TicketRegexp()
	if err != nil {
		return validate.CCCOptions{}, fmt.Errorf("ccc.ticket_pattern: %w", err)
	}
	o := validate.CCCOptions{
		LookupTXT: c.CCC.LookupTXT, // pinned keys only, never the DNS
		Phrases:   c.CCC.ImpossibilityPhrases,
		Ticket:    re,
		Tickets:   []validate.TicketRegistry{validate.NewBucketTickets(b)},
	}
	for _, d := range c.CCC.Domains {
		o.Domains = append(o.Domains, d.Domain)
	}
	if c.CCC.RegistryFile != "" {
		o.Tickets = append(o.Tickets, validate.NewFileTickets(c.CCC.RegistryFile))
	}
	return o, nil
}

// siteByID returns the configured site with this id.
func siteByID(c *Config, id string) (*Site, error) {
	for i := range c.Sites {
		if c.Sites[i].ID == id {
			return &c.Sites[i], nil
		}
	}
	ids := make([]string, len(c.Sites))
	for i, s := range c.Sites {
		ids[i] = s.ID
	}
	return nil, fmt.Errorf("site %q is not configured (sites: %v)", id, ids)
}

// siteOfCode returns the site whose references carry code (SiteCode).
func siteOfCode(c *Config, code string) (*Site, error) {
	for i := range c.Sites {
		if sc, err := validate.SiteCode(c.Sites[i].ID); err == nil && sc == code {
			return &c.Sites[i], nil
		}
	}
	return nil, fmt.Errorf("no configured site has the reference code %s", code)
}

// pickSite is the site named by --site when given, else the only site of
// the configuration.
func pickSite(c *Config, flagSite string) (*Site, error) {
	if flagSite != "" {
		return siteByID(c, flagSite)
	}
	if len(c.Sites) == 1 {
		return &c.Sites[0], nil
	}
	return nil, fmt.Errorf("%d sites are configured: say which with --site", len(c.Sites))
}

// siteNow is the current time in the site's zone.
func siteNow(s *Site, now time.Time) time.Time {
	if loc, err := s.Location(); err == nil {
		return now.In(loc)
	}
	return now
}

// configEnv names the configuration file when --config is not given.
const configEnv = "RECEVABLE_CONFIG"

// loadCLIConfig loads the configuration named by --config, or by
// $RECEVABLE_CONFIG.
func loadCLIConfig(path string) (*Config, error) {
	if path == "" {
		path = os.Getenv(configEnv)
	}
	if path == "" {
		return nil, errors.New("no configuration: give --config FILE or set " + configEnv)
	}
	return LoadConfig(path)
}
