package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
	"recevable/workers"
)

// Wiring from the configuration to the parts: the bucket, the sources, the
// pipeline. serve uses it, and so does demo (with its own configuration and
// an in-process IMAP server). Nothing here decides anything; it translates
// the configuration's fields into the packages' options.

// buildBucket opens the bucket of storage.backend.
func buildBucket(ctx context.Context, c *Config) (storage.Bucket, error) {
	switch c.Storage.Backend {
	case BackendFS:
		return storage.NewFS(c.Storage.FS.Dir)
	case BackendS3:
		return buildS3(ctx, c.Storage.S3, c.Storage.S3.Bucket)
	}
	return nil, fmt.Errorf("storage.backend %q: want fs or s3", c.Storage.Backend)
}

// buildS3 opens bucket name on the S3 service of s.
func buildS3(ctx context.Context, s S3Config, name string) (*storage.S3, error) {
	o := storage.S3Options{
		Endpoint: s.Endpoint, Region: s.Region, Bucket: name, PathStyle: s.PathStyle,
		AccessKey: s.AccessKey.Reveal(), SecretKey: s.SecretKey.Reveal(),
		SSE: s.SSE, PartSize: int64(s.PartSizeMB) << 20, MaxRetries: s.MaxRetries,
	}
	if s.SSE == SSEC {
		key, err := decodeBase64(s.SSECustomerKey.Reveal())
		if err != nil {
			return nil, fmt.Errorf("storage.s3.sse_customer_key: %w", err)
		}
		o.SSECustomerKey = key
	}
	return storage.NewS3(ctx, o)
}

// buildSites turns sites into the pipeline's sites (id and time zone).
func buildSites(c *Config) ([]workers.Site, error) {
	var out []workers.Site
	for _, s := range c.Sites {
		loc, err := s.Location()
		if err != nil {
			return nil, fmt.Errorf("site %s: timezone: %w", s.ID, err)
		}
		out = append(out, workers.Site{ID: s.ID, Location: loc})
	}
	return out, nil
}

// imapOptions translates one folder of an account.
func imapOptions(a IMAPAccount, folder string, l Limits, log zerolog.Logger) (intake.IMAPOptions, error) {
	o := intake.IMAPOptions{
		Name: a.Name, Host: a.Host, Port: a.Port,
		Auth: intake.IMAPAuth(a.Auth), Username: a.Username, Password: a.Password.Reveal(),
		TokenFile: a.TokenFile, TokenCommand: shellJoin(a.TokenCommand),
		Folder: folder, PostAction: intake.IMAPPostAction(a.PostAction),
		ProcessedFolder: a.ProcessedFolder, QuarantineFolder: a.QuarantineFolder,
		Keyword: a.Keyword, QuarantineKeyword: a.QuarantineKeyword,
		PollInterval: a.PollInterval, IDLE: a.Idle, MaxMessageSize: a.MessageLimit(l),
		CommandTimeout: a.Timeout, Logger: log,
	}
	switch a.TLS {
	case TLSImplicit:
		o.TLS = intake.IMAPImplicitTLS
	case TLSStartTLS:
		o.TLS = intake.IMAPStartTLS
	case TLSNone:
		o.TLS = intake.IMAPPlain
	default:
		return o, fmt.Errorf("imap account %s: tls %q", a.Name, a.TLS)
	}
	if a.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return o, fmt.Errorf("imap account %s: ca_file: %w", a.Name, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return o, fmt.Errorf("imap account %s: ca_file %s holds no PEM certificate", a.Name, a.CAFile)
		}
		o.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// shellJoin quotes a command line for /bin/sh -c, which the IMAP source runs
// its token command with; the configuration gives program and arguments
// apart, so nothing in them is interpreted by the shell.
func shellJoin(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

// buildSources makes a source of every IMAP account × folder and of every
// drop.
func buildSources(ctx context.Context, c *Config, b storage.Bucket, holder string, im *intake.IMAPMetrics, log zerolog.Logger) ([]workers.Source, error) {
	var out []workers.Source
	for _, a := range c.IMAP.Accounts {
		for _, f := range a.Folders {
			o, err := imapOptions(a, f, c.Limits, log)
			if err != nil {
				return nil, err
			}
			o.Metrics = im
			src, err := workers.IMAPSource(o, b, a.Site)
			if err != nil {
				return nil, fmt.Errorf("imap account %s folder %s: %w", a.Name, f, err)
			}
			out = append(out, src)
		}
	}
	for _, d := range c.Drops {
		src, err := dropSource(ctx, c, d, b, holder, log)
		if err != nil {
			return nil, fmt.Errorf("drop %s: %w", d.Name, err)
		}
		out = append(out, src)
	}
	return out, nil
}

// dropSource describes a drop as a source of the postal channel.
func dropSource(ctx context.Context, c *Config, d Drop, b storage.Bucket, holder string, log zerolog.Logger) (workers.Source, error) {
	o := intake.DropOptions{
		Name: d.Name, DoneDir: d.DoneDir, FailedDir: d.FailedDir,
		StableFor: d.StableFor, RescanInterval: d.RescanInterval,
		Bucket: b, Holder: holder, MaxBytes: c.Limits.ScanBytes(), Logger: log,
	}
	var open func() (intake.Source, error)
	switch d.Kind {
	case DropFolder:
		o.Dir = d.Path
		if err := os.MkdirAll(d.Path, 0o750); err != nil {
			return workers.Source{}, err
		}
		open = func() (intake.Source, error) { return intake.NewFolderDrop(o) }
	case DropS3:
		o.Prefix = d.Prefix
		o.Files = b
		if d.Bucket != "" && (c.Storage.Backend != BackendS3 || d.Bucket != c.Storage.S3.Bucket) {
			files, err := buildS3(ctx, c.Storage.S3, d.Bucket)
			if err != nil {
				return workers.Source{}, err
			}
			o.Files = files
		}
		open = func() (intake.Source, error) { return intake.NewS3Drop(o) }
	default:
		return workers.Source{}, fmt.Errorf("kind %q: want folder or s3", d.Kind)
	}
	return workers.Source{
		ID: intake.DropSourceID(d.Name), Site: d.Site, Channel: storage.ChannelPostal, Open: open,
		Split: intake.SplitOptions{
			Separators:      d.Separators.QRSheets,
			BlankSeparates:  d.Separators.BlankPages,
			BlankInkPercent: d.Separators.BlankInkPercent,
		},
	}, nil
}

// pipelineParts are what buildPipeline needs besides the configuration.
type pipelineParts struct {
	Bucket   storage.Bucket
	Assessor validate.Assessor
	Metrics  *workers.Metrics
	// IMAPMetrics, shared by the IMAP sources; nil: none.
	IMAPMetrics *intake.IMAPMetrics
	Holder      string
	Logger      zerolog.Logger
	// Sources replaces the sources of the configuration when not nil (the
	// demo adds its in-process server's).
	Sources []workers.Source
}

// buildPipeline builds the pipeline of c.
func buildPipeline(ctx context.Context, c *Config, parts pipelineParts) (*workers.Pipeline, error) {
	if parts.Assessor == nil {
		// validate.Assessor may be nil in tests only: in a running service
		// every dossier would go unverified.
		return nil, errors.New("no evidence search (validate.Assessor) wired")
	}
	sites, err := buildSites(c)
	if err != nil {
		return nil, err
	}
	if parts.Holder == "" {
		parts.Holder = workers.NewHolderID()
	}
	sources := parts.Sources
	if sources == nil {
		if sources, err = buildSources(ctx, c, parts.Bucket, parts.Holder, parts.IMAPMetrics, parts.Logger); err != nil {
			return nil, err
		}
	}
	l := c.Limits
	return workers.New(workers.Options{
		Bucket:   parts.Bucket,
		Sites:    sites,
		Sources:  sources,
		Assessor: parts.Assessor,
		MIMELimits: intake.Limits{
			MaxMessageBytes: l.MessageBytes(), MaxDepth: l.MIMEDepth,
			MaxParts: l.MIMEParts, MaxHeaderBytes: l.HeaderBytes(),
		},
		DocumentLimits: validate.Limits{
			MaxBytes: l.MessageBytes(), MaxPages: l.PDFPages, MaxMegapixels: float64(l.ImageMegapixels),
		},
		ScanLimits:   l.ScanLimits(),
		MaxDocuments: l.DocumentsPerDossier,
		PoolSize:     c.Workers.PoolSize,
		Retry: workers.RetryPolicy{
			Attempts: c.Workers.RetryMax, Min: c.Workers.RetryBackoffMin, Max: c.Workers.RetryBackoffMax,
		},
		LeaseTTL:        c.Workers.LeaseTTL,
		Holder:          parts.Holder,
		ShutdownTimeout: c.Workers.ShutdownTimeout,
		RawRetention:    c.Storage.Retention(),
		Metrics:         parts.Metrics,
		Logger:          parts.Logger,
	})
}
