package main

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Issue is one problem found in a configuration, named by the path of the
// field (sites[1].departments[0]) and, for a loaded file, its line.
type Issue struct {
	Path string
	Line int // 1-based; 0 when unknown
	Msg  string
}

func (i Issue) Error() string {
	if i.Path == "" {
		return i.Msg
	}
	return i.Path + ": " + i.Msg
}

// ConfigError lists every error found in a configuration. Its message has
// one line per issue, "file:line: path: message", as compilers write them.
type ConfigError struct {
	File   string
	Issues []Issue
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		lines[i] = formatIssue(e.File, is)
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives access to each Issue through errors.As.
func (e *ConfigError) Unwrap() []error {
	errs := make([]error, len(e.Issues))
	for i, is := range e.Issues {
		errs[i] = is
	}
	return errs
}

// formatIssue writes file:line: path: message, leaving out what is unknown.
func formatIssue(file string, is Issue) string {
	var b strings.Builder
	if file != "" {
		b.WriteString(file)
		if is.Line > 0 {
			fmt.Fprintf(&b, ":%d", is.Line)
		}
		b.WriteString(": ")
	} else if is.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", is.Line)
	}
	b.WriteString(is.Error())
	return b.String()
}

// checker collects errors and warnings while a configuration is checked.
type checker struct {
	errs, warns []Issue
}

func (c *checker) errorf(path, format string, args ...any) {
	c.errs = append(c.errs, Issue{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(path, format string, args ...any) {
	c.warns = append(c.warns, Issue{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks the configuration and returns a *ConfigError naming every
// bad field, or nil. It reads nothing from the disk or the environment:
// secrets were resolved by LoadConfig.
func (c *Config) Validate() error {
	errs, _ := c.check()
	if len(errs) == 0 {
		return nil
	}
	return &ConfigError{Issues: errs}
}

// Warnings lists what is allowed but probably wrong (literal secrets,
// readable key files, overlapping departments…), for `config check` and the
// start-up log.
func (c *Config) Warnings() []Issue {
	_, warns := c.check()
	return append(append([]Issue(nil), c.loadWarnings...), warns...)
}

// check runs every rule, with lines added when the file is known.
func (c *Config) check() (errs, warns []Issue) {
	ck := &checker{}
	c.validate(ck)
	for _, list := range [][]Issue{ck.errs, ck.warns} {
		for i := range list {
			list[i].Line = c.lineOf(list[i].Path)
		}
	}
	return ck.errs, ck.warns
}

func (c *Config) validate(ck *checker) {
	oneOf(ck, "log.format", c.Log.Format, "json", "console")
	if _, err := zerolog.ParseLevel(c.Log.Level); err != nil || c.Log.Level == "" {
		ck.errorf("log.level", "%q: want trace, debug, info, warn or error", c.Log.Level)
	}
	c.Storage.validate(ck, usesS3(c.Drops))
	c.validateLimits(ck)

	sites := map[string]bool{}
	if len(c.Sites) == 0 {
		ck.errorf("sites", "at least one site is required")
	}
	servedBy := map[string]string{}
	codes := map[string]string{} // validate.SiteCode → site id
	for i := range c.Sites {
		s := &c.Sites[i]
		p := fmt.Sprintf("sites[%d]", i)
		s.validate(ck, p)
		if sites[s.ID] {
			ck.errorf(p+".id", "%q is the id of an earlier site", s.ID)
		} else if other, dup := codes[siteRefCode(s.ID)]; dup {
			ck.errorf(p+".id", "%q gives the same invitation reference code as site %q (%s): rename one", s.ID, other, siteRefCode(s.ID))
		}
		sites[s.ID] = true
		codes[siteRefCode(s.ID)] = s.ID
		for j, d := range s.Departments {
			// A prefecture and a sub-prefecture may both serve a department
			// (arrêté 2023-08-01 art. 4 al. 3), hence only a warning.
			if other, ok := servedBy[d]; ok && other != s.ID {
				ck.warnf(fmt.Sprintf("%s.departments[%d]", p, j), "%s is also served by site %q", d, other)
			}
			servedBy[d] = s.ID
		}
	}
	names := map[string]bool{}
	for i := range c.IMAP.Accounts {
		p := fmt.Sprintf("imap.accounts[%d]", i)
		c.IMAP.Accounts[i].validate(ck, p, sites)
		if n := c.IMAP.Accounts[i].Name; n != "" && names[n] {
			ck.errorf(p+".name", "%q is the name of an earlier account", n)
		}
		names[c.IMAP.Accounts[i].Name] = true
	}
	names = map[string]bool{}
	for i := range c.Drops {
		p := fmt.Sprintf("drops[%d]", i)
		c.Drops[i].validate(ck, p, sites, &c.Storage)
		if n := c.Drops[i].Name; n != "" && names[n] {
			ck.errorf(p+".name", "%q is the name of an earlier drop", n)
		}
		names[c.Drops[i].Name] = true
	}
	c.CCC.validate(ck, "ccc")
	c.Workers.validate(ck)
	c.Web.validate(ck)
	if c.Metrics.Listen != "" {
		validListen(ck, "metrics.listen", c.Metrics.Listen)
		if c.Metrics.Listen == c.Web.Listen {
			ck.errorf("metrics.listen", "must differ from web.listen")
		}
	}
}

func (c *Config) validateLimits(ck *checker) {
	l := c.Limits
	for _, f := range []struct {
		name string
		v    int
	}{
		{"message_mb", l.MessageMB}, {"scan_mb", l.ScanMB}, {"mime_depth", l.MIMEDepth}, {"mime_parts", l.MIMEParts},
		{"header_kb", l.HeaderKB}, {"documents_per_dossier", l.DocumentsPerDossier},
		{"pdf_pages", l.PDFPages}, {"image_megapixels", l.ImageMegapixels},
	} {
		if f.v < 1 {
			ck.errorf("limits."+f.name, "must be at least 1")
		}
	}
	if l.MessageMB > 4096 {
		ck.errorf("limits.message_mb", "%d MiB: at most 4096", l.MessageMB)
	}
	if l.ScanMB > 16384 {
		ck.errorf("limits.scan_mb", "%d MiB: at most 16384", l.ScanMB)
	}
}

func (s *StorageConfig) validate(ck *checker, dropsUseS3 bool) {
	switch s.Backend {
	case BackendFS:
		if s.FS.Dir == "" {
			ck.errorf("storage.fs.dir", "required with backend fs")
		}
	case BackendS3:
	default:
		ck.errorf("storage.backend", "%q: want fs or s3", s.Backend)
	}
	if s.Backend == BackendS3 || dropsUseS3 {
		s.S3.validate(ck, "storage.s3")
	}
}

func (s *S3Config) validate(ck *checker, p string) {
	loopback := false
	if s.Endpoint != "" {
		u, ok := validURL(ck, p+".endpoint", s.Endpoint)
		if ok {
			loopback = isLoopbackHost(u.Hostname())
			if u.Scheme == "http" && !loopback {
				ck.warnf(p+".endpoint", "plain http: documents and credentials cross the network unencrypted")
			}
		}
	}
	if s.Region == "" {
		ck.errorf(p+".region", "required")
	}
	if s.Bucket == "" {
		ck.errorf(p+".bucket", "required")
	} else {
		validBucket(ck, p+".bucket", s.Bucket)
	}
	if s.AccessKey.IsSet() != s.SecretKey.IsSet() {
		ck.errorf(p+".secret_key", "access_key and secret_key go together")
	}
	switch s.SSE {
	case SSENone, SSEAES256:
		if s.SSECustomerKey.IsSet() {
			ck.warnf(p+".sse_customer_key", "ignored unless sse is SSE-C")
		}
	case SSEC:
		if requireSecret(ck, p+".sse_customer_key", s.SSECustomerKey, "with sse SSE-C") {
			if b, err := decodeBase64(s.SSECustomerKey.Reveal()); err != nil || len(b) != 32 {
				ck.errorf(p+".sse_customer_key", "want 32 bytes in base64 (%s)", s.SSECustomerKey.Source())
			}
		}
		// S3 refuses SSE-C over plain http: the key would travel in clear.
		if strings.HasPrefix(s.Endpoint, "http://") && !loopback {
			ck.errorf(p+".endpoint", "SSE-C needs an https endpoint")
		}
	default:
		ck.errorf(p+".sse", "%q: want empty, AES256 or SSE-C", s.SSE)
	}
	if s.ObjectLockRetentionDays < 0 {
		ck.errorf(p+".object_lock_retention_days", "must not be negative")
	}
	oneOf(ck, p+".object_lock_mode", s.ObjectLockMode, "governance", "compliance")
	if s.PartSizeMB < 5 || s.PartSizeMB > 5120 {
		ck.errorf(p+".part_size_mb", "%d: S3 parts are 5 to 5120 MiB", s.PartSizeMB)
	}
	if s.MaxRetries < 0 {
		ck.errorf(p+".max_retries", "must not be negative")
	}
}

func (w *WorkersConfig) validate(ck *checker) {
	if w.PoolSize < 1 {
		ck.errorf("workers.pool_size", "must be at least 1")
	}
	if w.RetryMax < 1 {
		ck.errorf("workers.retry_max", "must be at least 1")
	}
	minDuration(ck, "workers.retry_backoff_min", w.RetryBackoffMin, 10*time.Millisecond)
	if w.RetryBackoffMax < w.RetryBackoffMin {
		ck.errorf("workers.retry_backoff_max", "%v is less than retry_backoff_min (%v)", w.RetryBackoffMax, w.RetryBackoffMin)
	}
	minDuration(ck, "workers.lease_ttl", w.LeaseTTL, 3*time.Second)
	minDuration(ck, "workers.shutdown_timeout", w.ShutdownTimeout, time.Second)
}

func (w *WebConfig) validate(ck *checker) {
	validListen(ck, "web.listen", w.Listen)
	if u, ok := validURL(ck, "web.base_url", w.BaseURL); ok {
		if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
			ck.warnf("web.base_url", "plain http: session cookies cross the network unencrypted")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			ck.errorf("web.base_url", "must have no query or fragment")
		}
	}
	if w.SessionKey.IsSet() && len(w.SessionKey.Reveal()) < 32 {
		ck.errorf("web.session_key", "%d bytes: at least 32 are needed", len(w.SessionKey.Reveal()))
	}
	o := w.OIDC
	if o.Issuer == "" {
		if !w.LocalAccounts {
			ck.errorf("web.local_accounts", "nobody could log in: set web.oidc.issuer or local_accounts")
		}
		return
	}
	if u, ok := validURL(ck, "web.oidc.issuer", o.Issuer); ok && u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		ck.errorf("web.oidc.issuer", "must be https (OpenID Connect Discovery §4)")
	}
	if o.ClientID == "" {
		ck.errorf("web.oidc.client_id", "required with an issuer")
	}
	requireSecret(ck, "web.oidc.client_secret", o.ClientSecret, "with an issuer")
	if o.RoleClaim == "" {
		ck.errorf("web.oidc.role_claim", "required with an issuer")
	}
	if o.SiteClaim == "" {
		ck.errorf("web.oidc.site_claim", "required with an issuer")
	}
}

// requireSecret reports an empty secret, saying where it was looked for,
// and returns whether it is set.
func requireSecret(ck *checker, path string, s Secret, why string) bool {
	if s.IsSet() {
		return true
	}
	if src := s.Source(); src != "" {
		ck.errorf(path, "required %s: %s is empty", why, src)
	} else {
		ck.errorf(path, "required %s", why)
	}
	return false
}

func oneOf(ck *checker, path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	ck.errorf(path, "%q: want %s", v, strings.Join(allowed, " or "))
}

func minDuration(ck *checker, path string, d, min time.Duration) {
	if d < min {
		ck.errorf(path, "%v: at least %v", d, min)
	}
}

var reName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// validName checks the id of an account or a drop: it goes into metric
// labels and bucket keys.
func validName(ck *checker, path, n string) {
	switch {
	case n == "":
		ck.errorf(path, "required")
	case len(n) > 64 || !reName.MatchString(n):
		ck.errorf(path, "%q: use lowercase letters, digits and single inner hyphens", n)
	}
}

func validSiteRef(ck *checker, path, id string, sites map[string]bool) {
	if id == "" {
		ck.errorf(path, "required")
	} else if !sites[id] {
		ck.errorf(path, "%q is not the id of a site", id)
	}
}

// validURL checks an absolute http(s) URL with a host.
func validURL(ck *checker, path, s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ck.errorf(path, "%q: must be an http(s) URL", s)
		return nil, false
	}
	return u, true
}

// validListen checks a host:port listening address.
func validListen(ck *checker, path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		ck.errorf(path, "%q: want host:port, e.g. 127.0.0.1:8080", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		ck.errorf(path, "%q: %q is not a port number", addr, port)
	}
}

var reBucket = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// validBucket checks S3 bucket naming rules (3 to 63 lowercase letters,
// digits, dots and hyphens).
func validBucket(ck *checker, path, b string) {
	if !reBucket.MatchString(b) || strings.Contains(b, "..") {
		ck.errorf(path, "%q is not a valid bucket name (3 to 63 lowercase letters, digits, dots, hyphens)", b)
	}
}

// isLoopbackHost reports whether host is localhost or a loopback IP, where
// clear-text connections do not leave the machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
