package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"recevable/storage"
	"recevable/validate"
)

// The demo's directory and what it keeps between runs. The bucket is the
// state; beside it are the keys the bucket's invitations and the samples
// were signed with, the samples themselves (so that a second run delivers
// the same bytes, which deduplication recognises), and the letters:
//
//	DIR/bucket/        the filesystem bucket (storage.FS)
//	DIR/drop/          the mailroom's scan drop (done/ and failed/ inside)
//	DIR/keys/          invitation signing key, DKIM key of the demo CCC
//	DIR/samples/       the emails (.eml) and the batch scan delivered
//	DIR/letters/       the invitation letters (PDF)
//	DIR/demo.log       the service's log

// demoDirs are the paths of a demo directory.
type demoDirs struct {
	Root, Bucket, Drop, Keys, Samples, Letters, Log string
}

func newDemoDirs(root string) demoDirs {
	return demoDirs{
		Root: root, Bucket: filepath.Join(root, "bucket"), Drop: filepath.Join(root, "drop"),
		Keys: filepath.Join(root, "keys"), Samples: filepath.Join(root, "samples"),
		Letters: filepath.Join(root, "letters"), Log: filepath.Join(root, "demo.log"),
	}
}

func (d demoDirs) make() error {
	for _, p := range []string{d.Root, d.Bucket, d.Drop, d.Samples, d.Letters} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	// Private keys: readable by the owner only, as ReadPrivateKeyFile demands.
	return os.MkdirAll(d.Keys, 0o700)
}

// demoSite is the id of the demo's site (DefaultConfig).
const demoSite = "demo"

// demoIssuer is who issues the demo's invitations, in the registry and
// the audit log.
const demoIssuer = "cli:demo"

// demoKeys are the demo's private keys.
type demoKeys struct {
	Invitations     validate.SigningKey
	InvitationsFile string
	CCC             ed25519.PrivateKey
	// New is set when a key was made in this run.
	New bool
}

// loadDemoKeys reads the keys of DIR/keys, making those missing.
func loadDemoKeys(d demoDirs, now time.Time) (demoKeys, error) {
	var k demoKeys
	k.InvitationsFile = filepath.Join(d.Keys, "invitations-demo.pem")
	sk, err := validate.ReadPrivateKeyFile(k.InvitationsFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if sk, err = validate.GenerateKey(demoSite, now, nil); err != nil {
			return k, err
		}
		if err := validate.WritePrivateKeyFile(k.InvitationsFile, sk); err != nil {
			return k, err
		}
		k.New = true
	case err != nil:
		return k, err
	}
	k.Invitations = sk

	cccFile := filepath.Join(d.Keys, "dkim-ccc-demo.pem")
	data, err := os.ReadFile(cccFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return k, fmt.Errorf("dkim key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return k, fmt.Errorf("dkim key: %w", err)
		}
		if err := writeNewFile(cccFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return k, fmt.Errorf("dkim key: %w", err)
		}
		k.CCC, k.New = priv, true
	case err != nil:
		return k, fmt.Errorf("dkim key: %w", err)
	default:
		blk, _ := pem.Decode(data)
		if blk == nil {
			return k, fmt.Errorf("dkim key %s: no PEM block", cccFile)
		}
		key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return k, fmt.Errorf("dkim key %s: %w", cccFile, err)
		}
		priv, ok := key.(ed25519.PrivateKey)
		if !ok {
			return k, fmt.Errorf("dkim key %s: a %T, not Ed25519", cccFile, key)
		}
		k.CCC = priv
	}
	return k, nil
}

// demoInvitationsOf finds the demo's invitations in the registry, issuing
// (and revoking) those missing. issued is set when one was made now.
func demoInvitationsOf(ctx context.Context, b storage.Bucket, reg *validate.Registry, site *Site, key validate.SigningKey, now time.Time) (inv demoInvitations, issued bool, err error) {
	existing, err := reg.List(ctx, site.ID)
	if err != nil {
		return inv, false, err
	}
	// As `recevable invitation issue|revoke` do, every change is audited.
	audit := func(action, ref string) error {
		_, err := (storage.Audit{Bucket: b}).Append(ctx, storage.AuditEvent{Who: demoIssuer, Action: action, Detail: ref})
		return err
	}
	find := func(p demoPerson) (validate.Invitation, error) {
		for _, i := range existing {
			if i.Name == p.Name && i.IssuedBy == demoIssuer {
				return i, nil
			}
		}
		issued = true
		i, err := reg.Issue(ctx, validate.IssueRequest{
			Site: site.ID, Department: site.Departments[0], Name: p.Name, Email: p.Email, PostalAddress: p.Address,
			IssuedBy: demoIssuer, Now: now, ExpiresOn: validate.CivilDay(now).AddDate(0, 0, site.InvitationValidDays),
		}, key)
		if err != nil {
			return i, err
		}
		return i, audit("invitation.issue", i.Reference)
	}
	if inv.Email, err = find(demoPeople.Email); err != nil {
		return inv, false, err
	}
	if inv.Postal, err = find(demoPeople.Postal); err != nil {
		return inv, false, err
	}
	if inv.Revoked, err = find(demoPeople.Revoked); err != nil {
		return inv, false, err
	}
	if inv.Revoked.Revoked == nil {
		ref, err := inv.Revoked.ParsedReference()
		if err != nil {
			return inv, false, err
		}
		// Revoked before the email presenting it arrives: the registry proves
		// it false (arrêté 2023-08-01 art. 4; validate/invitation_verify.go).
		if inv.Revoked, err = reg.Revoke(ctx, site.ID, ref, demoIssuer, "lettre envoyée à une adresse erronée (démonstration)", now); err != nil {
			return inv, false, err
		}
		if err := audit("invitation.revoke", inv.Revoked.Reference); err != nil {
			return inv, false, err
		}
	}
	return inv, issued, nil
}

// writeDemoLetters writes the letter of each invitation into DIR/letters,
// unless it is there already, and returns their paths.
func writeDemoLetters(d demoDirs, site *Site, invs ...validate.Invitation) ([]string, error) {
	var out []string
	for _, inv := range invs {
		p := filepath.Join(d.Letters, "invitation-"+inv.Reference+".pdf")
		if _, err := os.Stat(p); err != nil {
			if _, err := writeInvitationLetter(site, inv, p); err != nil {
				return nil, fmt.Errorf("letter of %s: %w", inv.Reference, err)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// demoSampleBytes reads the samples of DIR/samples, or makes them all again
// when one is missing or fresh is set (new invitations or keys: the saved
// samples would present what the bucket does not know).
func demoSampleBytes(ctx context.Context, d demoDirs, inv demoInvitations, k demoKeys, fresh bool, now time.Time) (samples map[string][]byte, made bool, err error) {
	out := map[string][]byte{}
	if !fresh {
		for _, s := range demoSamples {
			b, err := os.ReadFile(filepath.Join(d.Samples, s.File))
			if err != nil {
				fresh = true
				break
			}
			out[s.File] = b
		}
	}
	if !fresh {
		return out, false, nil
	}
	if out, err = buildDemoSamples(ctx, inv, k.CCC, now); err != nil {
		return nil, false, err
	}
	for name, b := range out {
		if err := writeFileAtomic(filepath.Join(d.Samples, name), b, 0o644); err != nil {
			return nil, false, err
		}
	}
	return out, true, nil
}

// dropDemoBatch puts the batch scan into the drop, unless the bucket already
// has it or it is already there waiting. The file appears whole (written
// aside, then renamed), as a scanner writing to a temporary name does.
func dropDemoBatch(ctx context.Context, d demoDirs, b storage.Bucket, batch []byte) (bool, error) {
	sha, _, err := storage.Digest(bytes.NewReader(batch))
	if err != nil {
		return false, err
	}
	if _, err := (storage.Raws{Bucket: b}).GetDone(ctx, sha); err == nil {
		return false, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return false, err
	}
	target := filepath.Join(d.Drop, demoBatchFile)
	if _, err := os.Stat(target); err == nil {
		return true, nil
	}
	return true, writeFileAtomic(target, batch, 0o644)
}

// demoConfig is DefaultConfig in d, with the demo's keys, its CCC domain,
// its in-process mailbox and its listen address.
func demoConfig(d demoDirs, k demoKeys, mb *demoMailbox, listen string) (*Config, error) {
	c := DefaultConfig()
	c.Storage.FS.Dir = d.Bucket
	c.Web.Listen = listen
	c.Web.BaseURL = "http://" + listen
	c.Metrics.Listen = "" // one port for the demo: the interface's
	// The demo's items are processed in seconds; a lease left by a demo
	// killed with a second Ctrl-C must not hold the next one for a minute.
	c.Workers.LeaseTTL = 5 * time.Second
	c.Workers.RetryBackoffMin = time.Second
	c.Workers.RetryBackoffMax = 10 * time.Second

	site := &c.Sites[0]
	site.SigningKeyFile = k.InvitationsFile
	site.TrustedKeys = []TrustedKey{{ID: k.Invitations.ID, PublicKey: validate.FormatPublicKey(k.Invitations.Public().Key)}}

	drop := &c.Drops[0]
	drop.Path = d.Drop
	// The demo writes its scan whole (rename): no need to wait for a
	// scanner to finish.
	drop.StableFor = time.Second
	drop.RescanInterval = 2 * time.Second

	c.CCC.Domains = []CCCDomain{{Domain: demoCCCDomain, Selectors: []DKIMKey{{
		Selector: demoCCCSelector, KeyType: "ed25519",
		PublicKey: base64.StdEncoding.EncodeToString(k.CCC.Public().(ed25519.PublicKey)),
	}}}}

	acct := defaultIMAPAccount()
	acct.Name, acct.Site = demoIMAPAccount, demoSite
	acct.Host, acct.Port = "127.0.0.1", mb.Port
	acct.TLS = TLSNone // loopback: allowed by config check
	acct.Username, acct.Password = mb.User, NewSecret(mb.Password)
	acct.Idle = false // every message is there before the first poll
	acct.PollInterval = 5 * time.Second
	acct.Timeout = 30 * time.Second
	c.IMAP.Accounts = []IMAPAccount{acct}

	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	return c, nil
}

// demoListen checks the -listen address: a loopback host (the demo's
// accounts and data must not be reachable from the network), and a port
// free now. Port 0 is replaced by a free port.
func demoListen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("-listen %q: %w", addr, err)
	}
	if !isLoopbackHost(host) {
		return "", fmt.Errorf("-listen %q: the demo serves on a loopback address only (127.0.0.1, ::1 or localhost)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("cannot listen on %s (%w): is another demo or service using it? Choose another port with -listen %s",
			addr, err, net.JoinHostPort(host, suggestPort(port)))
	}
	got := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	if port == "0" {
		return got, nil
	}
	return addr, nil
}

func suggestPort(port string) string {
	if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65535 {
		return strconv.Itoa(n + 1)
	}
	return "8081"
}

// writeFileAtomic writes data to a hidden temporary file beside path and
// renames it: readers (the drop) never see a partial file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeNewFile writes data to a file that must not exist yet; on failure
// it leaves no partial file.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
