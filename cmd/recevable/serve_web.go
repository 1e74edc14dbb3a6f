package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"recevable/intake"
	"recevable/validate"
	"recevable/web"
	"recevable/workers"
)

// The pipeline as the staff interface sees it: web defines the interfaces
// (web.Reprocessor, web.MailroomIntake), workers the operations; these
// adapters join them, for whoever builds web.Options (the Web hook of serve,
// demo).

// pipelineReprocessor is the web.Reprocessor of a pipeline: the work is
// queued (workers.Pipeline.ReprocessLater) so that the agent's own update
// of the dossier goes first.
type pipelineReprocessor struct{ p *workers.Pipeline }

var _ web.Reprocessor = pipelineReprocessor{}

func (r pipelineReprocessor) Reprocess(ctx context.Context, rawSHA string) error {
	return r.p.ReprocessLater(ctx, rawSHA)
}

// pipelineMailroom is the web.MailroomIntake of a pipeline: an uploaded
// letter is registered at once (workers.Pipeline.Upload), so that the
// clerk writes its number on it.
type pipelineMailroom struct{ p *workers.Pipeline }

var _ web.MailroomIntake = pipelineMailroom{}

func (m pipelineMailroom) Submit(ctx context.Context, sub web.MailroomSubmission) (web.MailroomReceipt, error) {
	u := workers.Upload{Site: sub.Site, Postal: sub.Postal, Sender: sub.Sender, UploadedBy: sub.UploadedBy}
	for _, f := range sub.Files {
		u.Files = append(u.Files, workers.UploadFile{Name: f.Name, Size: f.Size, Open: f.Open})
	}
	res, err := m.p.Upload(ctx, u)
	switch {
	case errors.Is(err, workers.ErrUpload):
		// web shows a permanent error to the clerk as a refusal to fix.
		return web.MailroomReceipt{}, intake.Permanent(err)
	case err != nil:
		return web.MailroomReceipt{}, err
	}
	// A letter stored but put in quarantine (an unreadable scan) has no
	// number yet: supervisors see it in the quarantine list.
	r := web.MailroomReceipt{Raw: res.Raw}
	if len(res.Numbers) > 0 {
		r.Number = res.Numbers[0]
	}
	return r, nil
}

// webHook builds the staff interface from the configuration, for serve's
// Web hook (serve_hooks.go): the configured sites with their signing keys,
// local accounts and single sign-on, and the pipeline behind reprocessing
// and the mailroom upload. refresh is how often the queue pages re-read the
// bucket; zero is web's default.
func webHook(refresh time.Duration) func(ctx context.Context, c *Config, env serveEnv) (serveComponent, error) {
	return func(ctx context.Context, c *Config, env serveEnv) (serveComponent, error) {
		return buildWeb(ctx, c, env, refresh)
	}
}

func buildWeb(ctx context.Context, c *Config, env serveEnv, refresh time.Duration) (serveComponent, error) {
	var sites []web.Site
	for i := range c.Sites {
		s := &c.Sites[i]
		loc, err := s.Location()
		if err != nil {
			return serveComponent{}, fmt.Errorf("site %s: timezone: %w", s.ID, err)
		}
		ws := web.Site{
			ID: s.ID, Name: s.Name, Departments: s.Departments, Location: loc,
			Letter: letterSiteOf(s), InvitationValidDays: s.InvitationValidDays,
		}
		if s.SigningKeyFile != "" {
			k, err := validate.ReadPrivateKeyFile(s.SigningKeyFile)
			if err != nil {
				return serveComponent{}, fmt.Errorf("site %s: %w", s.ID, err)
			}
			ws.SigningKey = &k
		}
		sites = append(sites, ws)
	}
	o := web.Options{
		Bucket: env.Bucket, Sites: sites, Logger: env.Logger,
		BaseURL: c.Web.BaseURL, SessionKey: []byte(c.Web.SessionKey.Reveal()), LocalAccounts: c.Web.LocalAccounts,
		Reprocessor: pipelineReprocessor{env.Pipeline}, Mailroom: pipelineMailroom{env.Pipeline},
		MaxUploadBytes:  c.Limits.MessageBytes(),
		RefreshInterval: refresh,
		AuditRetain:     c.Storage.Retention(),
	}
	if oc := c.Web.OIDC; oc.Issuer != "" {
		o.OIDC = &web.OIDCOptions{
			Issuer: oc.Issuer, ClientID: oc.ClientID, ClientSecret: oc.ClientSecret.Reveal(),
			Scopes: oc.Scopes, RoleClaim: oc.RoleClaim, SiteClaim: oc.SiteClaim,
		}
	}
	srv, err := web.New(ctx, o)
	if err != nil {
		return serveComponent{}, err
	}
	return serveComponent{Handler: srv, Run: srv.Run}, nil
}
