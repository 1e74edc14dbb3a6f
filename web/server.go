package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
	"recevable/validate"
)

// Site is one prefecture or sub-prefecture as the interface needs it: what
// cmd builds from the configuration's sites.
type Site struct {
	ID   string
	Name string
	// Departments the site is competent for (arrêté 2023-08-01 art. 4
	// al. 3); the invitation form offers them.
	Departments []string
	// Location is the site's time zone: pages show dates in it. Nil: Europe/Paris.
	Location *time.Location
	// Letter is what invitation letters say about the service.
	Letter validate.LetterSite
	// SigningKey signs the site's invitations; nil: the site cannot issue.
	SigningKey *validate.SigningKey
	// InvitationValidDays is the default validity of a new invitation.
	InvitationValidDays int
}

// Options are what New needs. Bucket and Sites are required.
type Options struct {
	Bucket storage.Bucket
	Sites  []Site
	Logger zerolog.Logger
	// BaseURL is where staff reach the interface. An https URL makes the
	// cookies Secure and __Host- prefixed; http is for loopback trials.
	BaseURL string
	// SessionKey (32 bytes or more) authenticates session cookies; empty: a
	// random key, so sessions end with the process and are not shared
	// between replicas.
	SessionKey []byte
	// LocalAccounts enables the login form for accounts kept in the bucket.
	LocalAccounts bool
	// OIDC enables single sign-on; nil: none.
	OIDC *OIDCOptions
	// Reprocessor runs the pipeline again on a raw item; nil: dossiers
	// cannot be reprocessed, and quarantined items go back to the
	// crash-recovery backlog when their entry is removed.
	Reprocessor Reprocessor
	// Mailroom registers uploaded scans through the postal channel; nil: the
	// courrier upload page says the service is unavailable.
	Mailroom MailroomIntake
	// MaxUploadBytes bounds a courrier upload (default 50 MiB, the
	// message limit of DESIGN.md).
	MaxUploadBytes int64
	// RefreshInterval is how often the queue index re-reads the queue
	// markers (default 30 s).
	RefreshInterval time.Duration
	// AuditRetain locks audit events for that long where the bucket
	// supports Object Lock (CNIL 2021: 6 to 12 months).
	AuditRetain time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the staff and mailroom interface and the JSON API. It keeps no
// state another replica needs: sessions, accounts and the audit log are in
// the bucket, and the queue index is a cache of it.
type Server struct {
	opts       Options
	log        zerolog.Logger
	sites      []Site
	siteByID   map[string]*Site
	secure     bool
	dossiers   storage.Dossiers
	quarantine storage.Quarantine
	raws       storage.Raws
	audit      storage.Audit
	accounts   Accounts
	registry   *validate.Registry
	sessions   *sessionStore
	index      *queueIndex
	limiter    *loginLimiter
	oidc       *oidcClient
	views      *views
	handler    http.Handler
}

// New builds the server. With OIDC set it reads the provider's discovery
// document, so ctx bounds that network call.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Bucket == nil {
		return nil, errors.New("web: no bucket")
	}
	if len(o.Sites) == 0 {
		return nil, errors.New("web: no site")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 50 << 20
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = 30 * time.Second
	}
	if len(o.SessionKey) == 0 {
		o.SessionKey = make([]byte, 32)
		if _, err := rand.Read(o.SessionKey); err != nil {
			return nil, fmt.Errorf("web: session key: %w", err)
		}
	}
	if len(o.SessionKey) < 32 {
		return nil, fmt.Errorf("web: session key of %d bytes, at least 32 needed", len(o.SessionKey))
	}
	if !o.LocalAccounts && o.OIDC == nil {
		return nil, errors.New("web: neither local accounts nor OIDC: nobody could log in")
	}
	s := &Server{
		opts:       o,
		log:        o.Logger.With().Str("component", "web").Logger(),
		siteByID:   make(map[string]*Site, len(o.Sites)),
		dossiers:   storage.Dossiers{Bucket: o.Bucket, Now: o.Now},
		quarantine: storage.Quarantine{Bucket: o.Bucket, Now: o.Now},
		raws:       storage.Raws{Bucket: o.Bucket, Now: o.Now},
		audit:      storage.Audit{Bucket: o.Bucket, Now: o.Now, Retain: o.AuditRetain},
		accounts:   Accounts{Bucket: o.Bucket, Now: o.Now},
		registry:   validate.NewRegistry(o.Bucket),
		limiter:    newLoginLimiter(o.Now),
	}
	for _, site := range o.Sites {
		if err := storage.CheckSite(site.ID); err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		if _, dup := s.siteByID[site.ID]; dup {
			return nil, fmt.Errorf("web: site %s listed twice", site.ID)
		}
		if site.Location == nil {
			loc, err := time.LoadLocation("Europe/Paris")
			if err != nil {
				return nil, fmt.Errorf("web: %w", err)
			}
			site.Location = loc
		}
		if site.InvitationValidDays <= 0 {
			site.InvitationValidDays = 90
		}
		s.sites = append(s.sites, site)
	}
	for i := range s.sites {
		s.siteByID[s.sites[i].ID] = &s.sites[i]
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("web: base URL %q is not an http(s) URL", o.BaseURL)
		}
		s.secure = u.Scheme == "https"
	}
	s.sessions = newSessionStore(o.Bucket, o.SessionKey, o.Now)
	s.index = newQueueIndex(s.dossiers, s.log, o.Now)
	views, err := loadViews()
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.views = views
	if o.OIDC != nil {
		c, err := newOIDCClient(ctx, *o.OIDC, o.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		s.oidc = c
	}
	s.handler = s.routesHandler()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Run keeps the queue index fresh until ctx ends: it reads each site's
// queue markers at once (so the first page after a start is fast), then
// every RefreshInterval; and it removes expired sessions from the bucket
// every hour. Pages work without it (they build the index on first use);
// it keeps their counts from going stale.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.RefreshInterval)
	defer t.Stop()
	sweep := time.NewTicker(time.Hour)
	defer sweep.Stop()
	for {
		for _, site := range s.sites {
			if err := s.index.refresh(ctx, site.ID); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Str("site", site.ID).Msg("queue index refresh failed")
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-sweep.C:
			if n, err := s.sessions.sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("session sweep failed")
			} else if n > 0 {
				s.log.Info().Int("sessions", n).Msg("expired sessions removed")
			}
		}
	}
}

func (s *Server) now() time.Time { return s.opts.Now() }

// site returns the configured site with this id, or nil.
func (s *Server) site(id string) *Site { return s.siteByID[id] }
