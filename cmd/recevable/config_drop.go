package main

import (
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Kinds of drop.
const (
	DropFolder = "folder" // a directory the scanner writes to
	DropS3     = "s3"     // a prefix in an S3 bucket
)

// Drop is one place where scans of letters appear: an entry of drops.
type Drop struct {
	Name           string        `yaml:"name" doc:"Short id of the drop (lowercase letters, digits, hyphens), used in logs, metrics and the source of each item."`
	Site           string        `yaml:"site" doc:"Id of the site whose mailroom scans here."`
	Kind           string        `yaml:"kind" doc:"folder (a directory) or s3 (a prefix in a bucket reached through storage.s3)."`
	Path           string        `yaml:"path" doc:"With folder: the directory watched. Relative paths are relative to the working directory."`
	Prefix         string        `yaml:"prefix" doc:"With s3: the key prefix watched, e.g. scans/pp/."`
	Bucket         string        `yaml:"bucket" doc:"With s3: the bucket; empty: storage.s3.bucket."`
	StableFor      time.Duration `yaml:"stable_for" doc:"A file is taken once its size and modification time have not changed for this long (scanners write slowly)."`
	RescanInterval time.Duration `yaml:"rescan_interval" doc:"Time between two full listings; folders are also watched for changes."`
	DoneDir        string        `yaml:"done_dir" doc:"Where a file goes once stored: a directory (folder) or prefix (s3), relative to path or prefix unless absolute. Only the files directly in path (directly under prefix) are taken, so subdirectories are safe."`
	FailedDir      string        `yaml:"failed_dir" doc:"Where a file goes when it is quarantined, relative like done_dir."`
	Separators     Separators    `yaml:"separators" doc:"How a batch scan is split into letters, one dossier each."`
}

// Separators says how a scanned batch is cut into letters.
type Separators struct {
	QRSheets        bool    `yaml:"qr_sheets" doc:"A page carrying recevable's separator QR code (the separator sheet recevable prints) starts a new letter and is dropped; the sheet may carry the postmark date."`
	BlankPages      bool    `yaml:"blank_pages" doc:"A blank page starts a new letter and is dropped. Risky with duplex scanning, where blank backs are common."`
	BlankInkPercent float64 `yaml:"blank_ink_percent" doc:"A page with less ink than this, in percent of its area inside the margins, is blank: it is dropped (duplex backs), and with blank_pages it also starts a new letter. Measured on 300 dpi scans: a blank back with show-through 0.002, the single word 'ok' 0.012, one typed line 0.2. Raise it only after looking at what your scanner gives."`
}

func (d *Drop) validate(c *checker, p string, sites map[string]bool, st *StorageConfig) {
	validName(c, p+".name", d.Name)
	validSiteRef(c, p+".site", d.Site, sites)
	switch d.Kind {
	case DropFolder:
		if d.Path == "" {
			c.errorf(p+".path", "required with kind folder")
		}
		if d.Prefix != "" || d.Bucket != "" {
			c.warnf(p+".prefix", "kind folder uses path: prefix and bucket are ignored")
		}
	case DropS3:
		if d.Prefix == "" {
			c.errorf(p+".prefix", "required with kind s3")
		} else if !strings.HasSuffix(d.Prefix, "/") {
			c.errorf(p+".prefix", "%q must end with /", d.Prefix)
		}
		if d.Bucket == "" && st.S3.Bucket == "" {
			c.errorf(p+".bucket", "required with kind s3 when storage.s3.bucket is empty")
		}
		if d.Bucket != "" {
			validBucket(c, p+".bucket", d.Bucket)
		}
	default:
		c.errorf(p+".kind", "%q: want folder or s3", d.Kind)
	}
	minDuration(c, p+".stable_for", d.StableFor, time.Second)
	minDuration(c, p+".rescan_interval", d.RescanInterval, time.Second)
	for _, f := range []struct{ field, dir string }{{"done_dir", d.DoneDir}, {"failed_dir", d.FailedDir}} {
		if f.dir == "" {
			c.errorf(p+"."+f.field, "required")
		}
	}
	if d.DoneDir != "" && d.ResolvedDir(d.DoneDir) == d.ResolvedDir(d.FailedDir) {
		c.errorf(p+".failed_dir", "must differ from done_dir")
	}
	if d.Separators.BlankInkPercent <= 0 || d.Separators.BlankInkPercent >= 100 {
		c.errorf(p+".separators.blank_ink_percent", "%v: want a percentage above 0 and below 100", d.Separators.BlankInkPercent)
	}
}

// ResolvedDir returns done_dir or failed_dir resolved against path (folder)
// or prefix (s3). An s3 result ends with "/".
func (d Drop) ResolvedDir(dir string) string {
	if d.Kind == DropS3 {
		if !strings.HasPrefix(dir, "/") {
			dir = d.Prefix + dir
		}
		return strings.TrimPrefix(path.Clean(dir), "/") + "/"
	}
	if filepath.IsAbs(dir) {
		return filepath.Clean(dir)
	}
	return filepath.Join(d.Path, dir)
}

// usesS3 reports whether any drop reads from S3, which makes storage.s3
// needed even with the fs backend.
func usesS3(drops []Drop) bool {
	for _, d := range drops {
		if d.Kind == DropS3 {
			return true
		}
	}
	return false
}
