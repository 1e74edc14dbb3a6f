package main

import (
	"time"

	"recevable/intake"
)

// Config is the whole configuration of recevable, read from one YAML file by
// LoadConfig. Each field's documentation is its doc tag, which
// `recevable config describe` prints; defaults live in config_defaults.go and
// checks in config_validate.go and beside each section's type.
//
// Sections: log, storage, limits, sites, imap, drops, ccc, workers, web,
// metrics. Sources (imap accounts, drops) and dossiers belong to a site.
type Config struct {
	Log     LogConfig     `yaml:"log" doc:"Logs (zerolog). They carry ids and hashes, never personal data."`
	Storage StorageConfig `yaml:"storage" doc:"Where everything is kept. The bucket is the only state: workers and web nodes are stateless."`
	Limits  Limits        `yaml:"limits" doc:"Limits on what a submission may contain. Over a limit, the item goes to quarantine with the limit named."`
	Sites   []Site        `yaml:"sites" doc:"The prefectures and sub-prefectures served, at least one. Every source and dossier belongs to a site."`
	IMAP    IMAPConfig    `yaml:"imap" doc:"Dedicated mailboxes receiving submissions by email (arrêté 2023-08-01 art. 4 al. 4)."`
	Drops   []Drop        `yaml:"drops" doc:"Scan drops: folders (or S3 prefixes) where the mailroom's scanner puts letters received by post."`
	CCC     CCCConfig     `yaml:"ccc" doc:"Verification of attestations from the centre de contact citoyens (CCC) of the ANTS, the exception of arrêté 2023-08-01 art. 4 al. 2."`
	Workers WorkersConfig `yaml:"workers" doc:"The processing pool, retries and leases."`
	Web     WebConfig     `yaml:"web" doc:"The staff and mailroom interface and its JSON API."`
	Metrics MetricsConfig `yaml:"metrics" doc:"Prometheus metrics and health endpoints."`

	// lines maps a field path (sites[1].departments[0]) to its line in the
	// file it was loaded from; nil for a configuration built in code.
	lines map[string]int
	// loadWarnings are the warnings found while reading secrets.
	loadWarnings []Issue
}

// LogConfig is the log section.
type LogConfig struct {
	Format string `yaml:"format" doc:"json (one object per line, for collectors) or console (for people)."`
	Level  string `yaml:"level" doc:"trace, debug, info, warn or error."`
}

// Storage backends.
const (
	BackendFS = "fs" // a local directory with the same semantics as the bucket
	BackendS3 = "s3" // an S3-compatible object store
)

// StorageConfig is the storage section.
type StorageConfig struct {
	Backend string   `yaml:"backend" doc:"fs (a local directory, for one node and trials) or s3 (production, any number of replicas)."`
	FS      FSConfig `yaml:"fs" doc:"The fs backend; used when backend is fs."`
	S3      S3Config `yaml:"s3" doc:"The S3 connection; used when backend is s3 and by drops of kind s3."`
}

// FSConfig is storage.fs.
type FSConfig struct {
	Dir string `yaml:"dir" doc:"Directory holding the objects. Created if missing."`
}

// Server-side encryption modes for S3.
const (
	SSENone   = ""
	SSEAES256 = "AES256" // keys managed by the S3 server
	SSEC      = "SSE-C"  // key provided by recevable with every request
)

// S3Config is storage.s3.
type S3Config struct {
	Endpoint                string `yaml:"endpoint" doc:"Base URL of the S3 service, e.g. https://s3.example.gouv.fr. Empty for AWS itself."`
	Region                  string `yaml:"region" doc:"Region; most S3-compatible servers accept any value."`
	Bucket                  string `yaml:"bucket" doc:"Bucket name. Required. Production buckets should have versioning and Object Lock enabled."`
	PathStyle               bool   `yaml:"path_style" doc:"Address the bucket as endpoint/bucket rather than bucket.endpoint (MinIO, versitygw, most on-premises servers)."`
	AccessKey               Secret `yaml:"access_key" doc:"Access key id. With secret_key; both empty: the AWS default chain (environment, instance role)."`
	SecretKey               Secret `yaml:"secret_key" doc:"Secret access key."`
	SSE                     string `yaml:"sse" doc:"Server-side encryption of every object written: empty (the bucket's default), AES256 (keys kept by the server) or SSE-C (key given by recevable, see sse_customer_key). Encryption at rest is expected for this data (circulaire 6404/SG)."`
	SSECustomerKey          Secret `yaml:"sse_customer_key" doc:"With sse SSE-C: the 256-bit key, base64. Losing it loses every object: keep it in the secrets vault."`
	ObjectLockRetentionDays int    `yaml:"object_lock_retention_days" doc:"When above 0, raw originals (the submissions as received) and audit events are written with an Object Lock retention of this many days (the bucket must have Object Lock enabled). Keep it within the retention period of the data (GDPR art. 5(1)(e))."`
	ObjectLockMode          string `yaml:"object_lock_mode" doc:"governance (privileged users may shorten the retention) or compliance (nobody can)."`
	PartSizeMB              int    `yaml:"part_size_mb" doc:"Part size of multipart uploads, in MiB (5 to 5120)."`
	MaxRetries              int    `yaml:"max_retries" doc:"Attempts the S3 client makes on a temporary error before giving up, within one operation."`
}

// Limits is the limits section. Sizes are in MiB and KiB as named.
type Limits struct {
	MessageMB           int `yaml:"message_mb" doc:"Largest email (with its attachments) or upload, in MiB."`
	ScanMB              int `yaml:"scan_mb" doc:"Largest scanned batch taken from a drop, in MiB: a mailroom batch of 200 pages at 300 dpi weighs 100 to 250 MiB."`
	MIMEDepth           int `yaml:"mime_depth" doc:"Deepest nesting of MIME parts and forwarded messages."`
	MIMEParts           int `yaml:"mime_parts" doc:"Most MIME parts in one message."`
	HeaderKB            int `yaml:"header_kb" doc:"Largest header block of a message or part, in KiB."`
	DocumentsPerDossier int `yaml:"documents_per_dossier" doc:"Most documents in one dossier."`
	PDFPages            int `yaml:"pdf_pages" doc:"Most pages in one PDF."`
	ImageMegapixels     int `yaml:"image_megapixels" doc:"Largest image, in megapixels (width × height / 10⁶), checked before decoding."`
}

// MessageBytes is limits.message_mb in bytes.
func (l Limits) MessageBytes() int64 { return int64(l.MessageMB) << 20 }

// ScanBytes is limits.scan_mb in bytes.
func (l Limits) ScanBytes() int64 { return int64(l.ScanMB) << 20 }

// ScanLimits bound the reading of a scanned batch.
func (l Limits) ScanLimits() intake.ScanLimits {
	return intake.ScanLimits{MaxBytes: l.ScanBytes(), MaxPages: l.PDFPages, MaxImagePixels: l.ImagePixels()}
}

// HeaderBytes is limits.header_kb in bytes.
func (l Limits) HeaderBytes() int64 { return int64(l.HeaderKB) << 10 }

// ImagePixels is limits.image_megapixels in pixels.
func (l Limits) ImagePixels() int64 { return int64(l.ImageMegapixels) * 1_000_000 }

// WorkersConfig is the workers section.
type WorkersConfig struct {
	PoolSize        int           `yaml:"pool_size" doc:"Items processed at the same time by this node."`
	RetryMax        int           `yaml:"retry_max" doc:"Attempts at an item failing with a temporary or unknown error before it goes to quarantine."`
	RetryBackoffMin time.Duration `yaml:"retry_backoff_min" doc:"First wait before retrying; doubled at each attempt."`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max" doc:"Longest wait between two attempts."`
	LeaseTTL        time.Duration `yaml:"lease_ttl" doc:"Lifetime of a lease on a source (a mailbox, a drop) held in the bucket; renewed at a third of it. A node that dies releases its sources after this long."`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" doc:"On stop, longest wait for items in flight and pending acknowledgments before exiting anyway."`
}

// WebConfig is the web section.
type WebConfig struct {
	Listen        string     `yaml:"listen" doc:"Address (host:port) of the staff interface. Put it behind the ministry's reverse proxy for TLS."`
	BaseURL       string     `yaml:"base_url" doc:"URL at which staff reach the interface, used in links and the OIDC redirect."`
	SessionKey    Secret     `yaml:"session_key" doc:"Key (32 bytes or more) authenticating session cookies; the same on every replica. Empty: a random key per process, so sessions end at restart and are not shared between replicas."`
	OIDC          OIDCConfig `yaml:"oidc" doc:"Single sign-on through OpenID Connect; used when issuer is set."`
	LocalAccounts bool       `yaml:"local_accounts" doc:"Allow accounts kept in the bucket and managed with 'recevable user'. At least one of oidc and local_accounts is needed."`
}

// OIDCConfig is web.oidc.
type OIDCConfig struct {
	Issuer       string   `yaml:"issuer" doc:"Issuer URL of the identity provider (its /.well-known/openid-configuration is read at start). Empty: no single sign-on."`
	ClientID     string   `yaml:"client_id" doc:"Client id registered with the identity provider."`
	ClientSecret Secret   `yaml:"client_secret" doc:"Client secret registered with the identity provider."`
	Scopes       []string `yaml:"scopes" doc:"Scopes requested; openid is always included."`
	RoleClaim    string   `yaml:"role_claim" doc:"Claim (a string or a list of strings) holding the user's recevable roles."`
	SiteClaim    string   `yaml:"site_claim" doc:"Claim (a string or a list of strings) holding the ids of the sites the user works for."`
}

// Retention is how long raw originals and audit events are locked (S3
// Object Lock) when they are written; zero when nothing is locked.
func (s StorageConfig) Retention() time.Duration {
	if s.Backend != BackendS3 {
		return 0
	}
	return time.Duration(s.S3.ObjectLockRetentionDays) * 24 * time.Hour
}

// MetricsConfig is the metrics section.
type MetricsConfig struct {
	Listen string `yaml:"listen" doc:"Address (host:port) serving /metrics, /healthz and /readyz, apart from the staff interface. Empty: not served."`
}
