package main

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"recevable/intake"
)

// Every default of the configuration is in this file: defaultConfig for the
// sections, and one function per kind of list entry, applied by that
// entry's UnmarshalYAML before the YAML is decoded over it (so an explicit
// "idle: false" stays false).

// defaultConfig is the configuration before any file is read.
func defaultConfig() Config {
	return Config{
		Log: LogConfig{Format: "json", Level: "info"},
		Storage: StorageConfig{
			Backend: BackendFS,
			FS:      FSConfig{Dir: "/var/lib/recevable"},
			S3: S3Config{
				Region:         "us-east-1",
				ObjectLockMode: "governance",
				PartSizeMB:     16,
				MaxRetries:     5,
			},
		},
		// DESIGN.md, "Limits".
		Limits: Limits{
			MessageMB:           50,
			ScanMB:              1024,
			MIMEDepth:           32,
			MIMEParts:           1000,
			HeaderKB:            1024,
			DocumentsPerDossier: 100,
			PDFPages:            500,
			ImageMegapixels:     50,
		},
		CCC: CCCConfig{
			// Wordings of the CCC and of applicants met so far (arrêté
			// 2023-08-01 art. 4 al. 1: "n'ayant pu déposer leur demande").
			ImpossibilityPhrases: []string{
				"impossibilité technique",
				"impossibilité de déposer",
				"impossible de déposer",
				"n'a pas pu déposer",
				"n'avez pas pu déposer",
				"dépôt en ligne impossible",
				"solution de substitution",
			},
			// The CCC's ticket format is not published: this looks for a
			// reference after the word "ticket". Adjust it per deployment.
			TicketPattern: `(?i)\bticket\s*(?:n[°o]\.?\s*)?:?\s*([a-z0-9][a-z0-9-]{5,23})\b`,
		},
		Workers: WorkersConfig{
			PoolSize:        4,
			RetryMax:        10,
			RetryBackoffMin: 5 * time.Second,
			RetryBackoffMax: 10 * time.Minute,
			LeaseTTL:        time.Minute,
			ShutdownTimeout: 30 * time.Second,
		},
		Web: WebConfig{
			Listen:  "127.0.0.1:8080",
			BaseURL: "http://127.0.0.1:8080",
			OIDC: OIDCConfig{
				Scopes:    []string{"openid", "profile", "email"},
				RoleClaim: "roles",
				SiteClaim: "sites",
			},
			LocalAccounts: true,
		},
		Metrics: MetricsConfig{Listen: "127.0.0.1:9090"},
	}
}

func defaultSite() Site {
	return Site{Timezone: "Europe/Paris", InvitationValidDays: 90}
}

func defaultIMAPAccount() IMAPAccount {
	return IMAPAccount{
		TLS:               TLSImplicit,
		Auth:              AuthLogin,
		Folders:           []string{"INBOX"},
		PostAction:        PostActionMove,
		ProcessedFolder:   "Recevable-Traités",
		QuarantineFolder:  "Recevable-Quarantaine",
		Keyword:           "$Recevable",
		QuarantineKeyword: "$RecevableQuarantaine",
		PollInterval:      time.Minute,
		Idle:              true,
		Timeout:           time.Minute,
	}
}

func defaultDrop() Drop {
	return Drop{
		Kind:           DropFolder,
		StableFor:      30 * time.Second,
		RescanInterval: time.Minute,
		DoneDir:        "done",
		FailedDir:      "failed",
		Separators:     Separators{QRSheets: true, BlankInkPercent: intake.DefaultBlankInkPercent},
	}
}

func defaultDKIMKey() DKIMKey { return DKIMKey{KeyType: "rsa"} }

// The UnmarshalYAML methods below use yaml.v3's older callback form on
// purpose: it decodes with the caller's decoder, which keeps KnownFields.

// UnmarshalYAML decodes a site over its defaults.
func (s *Site) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Site
	*s = defaultSite()
	return unmarshal((*plain)(s))
}

// UnmarshalYAML decodes an account over its defaults.
func (a *IMAPAccount) UnmarshalYAML(unmarshal func(any) error) error {
	type plain IMAPAccount
	*a = defaultIMAPAccount()
	return unmarshal((*plain)(a))
}

// UnmarshalYAML decodes a drop over its defaults.
func (d *Drop) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Drop
	*d = defaultDrop()
	return unmarshal((*plain)(d))
}

// UnmarshalYAML decodes a DKIM key over its defaults.
func (k *DKIMKey) UnmarshalYAML(unmarshal func(any) error) error {
	type plain DKIMKey
	*k = defaultDKIMKey()
	return unmarshal((*plain)(k))
}

// DefaultConfig is the configuration of `recevable demo`: one demonstration
// site, a filesystem bucket and a drop folder under ./recevable-demo, the
// interface on 127.0.0.1, console logs, a random session key. It has no IMAP
// account and no signing key: the demo adds an account for its in-process
// server (whose port is known only once it listens), and makes a key and
// adds its trusted_keys entry.
func DefaultConfig() *Config {
	c := defaultConfig()
	c.Log.Format = "console"
	c.Storage.FS.Dir = "recevable-demo/bucket"

	site := defaultSite()
	site.ID = "demo"
	site.Name = "Préfecture de démonstration"
	site.Departments = []string{"75"}
	site.Letterhead = []string{"PRÉFECTURE DE DÉMONSTRATION", "Direction des migrations et de l'intégration", "Bureau des étrangers"}
	site.PostalAddress = []string{"Préfecture de démonstration", "Bureau des étrangers", "1 rue de l'Exemple", "75000 Paris"}
	site.Email = "titres-sejour@demo.invalid" // RFC 2606 §2: never delivered
	site.Phone = "01 00 00 00 00"
	c.Sites = []Site{site}

	drop := defaultDrop()
	drop.Name = "demo-scans"
	drop.Site = "demo"
	drop.Path = "recevable-demo/drop"
	c.Drops = []Drop{drop}

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	c.Web.SessionKey = NewSecret(base64.StdEncoding.EncodeToString(key))
	return &c
}
