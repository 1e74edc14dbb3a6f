package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCOptions configure single sign-on with the prefecture's identity
// provider (OpenID Connect authorization code flow with PKCE, RFC 7636).
type OIDCOptions struct {
	// Issuer URL; its discovery document is read by New.
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes requested; "openid" is always included.
	Scopes []string
	// RoleClaim holds the user's recevable roles: a string or a list of
	// strings; a dotted path reaches into objects ("realm_access.roles" for
	// Keycloak). Values that are not recevable roles are ignored.
	RoleClaim string
	// SiteClaim holds the ids of the sites the user works for ("*": all).
	SiteClaim string
	// HTTPClient talks to the provider; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// oidcClient is the relying party.
type oidcClient struct {
	opts     OIDCOptions
	verifier *oidc.IDTokenVerifier
	config   oauth2.Config
	client   *http.Client
}

func newOIDCClient(ctx context.Context, o OIDCOptions, baseURL string) (*oidcClient, error) {
	if o.Issuer == "" || o.ClientID == "" {
		return nil, errors.New("oidc: issuer and client id are required")
	}
	if o.RoleClaim == "" {
		o.RoleClaim = "roles"
	}
	if o.SiteClaim == "" {
		o.SiteClaim = "sites"
	}
	client := o.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery of %s: %w", o.Issuer, err)
	}
	scopes := []string{oidc.ScopeOpenID}
	for _, sc := range o.Scopes {
		if sc != oidc.ScopeOpenID {
			scopes = append(scopes, sc)
		}
	}
	return &oidcClient{
		opts:     o,
		client:   client,
		verifier: provider.Verifier(&oidc.Config{ClientID: o.ClientID}),
		config: oauth2.Config{
			ClientID: o.ClientID, ClientSecret: o.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: strings.TrimSuffix(baseURL, "/") + "/oidc/retour", Scopes: scopes,
		},
	}, nil
}

// oidcCookie carries the state of a login in progress across the round
// trip to the provider: state (CSRF of the callback), nonce (binds the ID
// token to this browser), PKCE verifier and the page to return to. It is
// authenticated with the session key and lives 10 minutes.
const oidcCookie = "recevable_oidc"

type oidcFlow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Return   string    `json:"r"`
	Expires  time.Time `json:"e"`
}

func (s *Server) sealFlow(f oidcFlow) string {
	data, _ := json.Marshal(f)
	m := hmac.New(sha256.New, append([]byte("oidc-flow:"), s.opts.SessionKey...))
	m.Write(data)
	return base64.RawURLEncoding.EncodeToString(data) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) openFlow(v string) (oidcFlow, bool) {
	d, mac, ok := strings.Cut(v, ".")
	if !ok {
		return oidcFlow{}, false
	}
	data, err1 := base64.RawURLEncoding.DecodeString(d)
	sum, err2 := base64.RawURLEncoding.DecodeString(mac)
	if err1 != nil || err2 != nil {
		return oidcFlow{}, false
	}
	m := hmac.New(sha256.New, append([]byte("oidc-flow:"), s.opts.SessionKey...))
	m.Write(data)
	if !hmac.Equal(sum, m.Sum(nil)) {
		return oidcFlow{}, false
	}
	var f oidcFlow
	if json.Unmarshal(data, &f) != nil || s.now().After(f.Expires) {
		return oidcFlow{}, false
	}
	return f, true
}

func randomString() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// oidcStart sends the browser to the identity provider.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request, _ *session) {
	if s.oidc == nil {
		s.notFound(w, r, nil)
		return
	}
	f := oidcFlow{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
		Return: localPath(r.URL.Query().Get("retour")), Expires: s.now().Add(10 * time.Minute)}
	s.setCookie(w, oidcCookie, s.sealFlow(f), 10*time.Minute)
	url := s.oidc.config.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	http.Redirect(w, r, url, http.StatusFound)
}

// oidcCallback finishes the login: checks state, exchanges the code,
// verifies the ID token and its nonce, and maps the claims to roles and
// sites.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request, old *session) {
	if s.oidc == nil {
		s.notFound(w, r, nil)
		return
	}
	c, err := r.Cookie(s.cookieName(oidcCookie))
	s.setCookie(w, oidcCookie, "", -1)
	var f oidcFlow
	ok := err == nil
	if ok {
		f, ok = s.openFlow(c.Value)
	}
	q := r.URL.Query()
	if !ok || q.Get("error") != "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		s.log.Warn().Bool("flow", ok).Str("provider_error", q.Get("error")).Msg("oidc callback refused")
		http.Redirect(w, r, "/connexion?fait=expire", http.StatusSeeOther)
		return
	}
	p, err := s.oidc.exchange(r.Context(), q.Get("code"), f)
	if err != nil {
		s.log.Warn().Err(err).Msg("oidc login failed")
		s.fail(w, r, nil, http.StatusUnauthorized, "Connexion refusée", "Le fournisseur d'identité n'a pas confirmé votre identité. Recommencez ou contactez le support.")
		return
	}
	if len(p.Roles) == 0 || len(p.Sites) == 0 {
		s.record(r.Context(), p.ID, "auth.login_failed", "", "oidc: no role or site")
		s.fail(w, r, nil, http.StatusForbidden, "Accès non ouvert",
			"Votre identité est reconnue, mais aucun rôle recevable (agent, courrier, superviseur, exploitant) ou aucun site ne vous est attribué. Demandez l'ouverture de vos droits.")
		return
	}
	value, _, err := s.sessions.create(r.Context(), p)
	if err != nil {
		s.log.Error().Err(err).Msg("create session")
		s.fail(w, r, nil, http.StatusServiceUnavailable, "Service indisponible", "La session n'a pas pu être ouverte. Réessayez.")
		return
	}
	s.record(r.Context(), p.ID, "auth.login", "", "oidc")
	s.endPrevious(r, old)
	s.setCookie(w, sessionCookie, value, 0)
	http.Redirect(w, r, f.Return, http.StatusSeeOther)
}

// exchange trades the code for tokens and turns the verified ID token into
// a principal.
func (c *oidcClient) exchange(ctx context.Context, code string, f oidcFlow) (Principal, error) {
	ctx = oidc.ClientContext(ctx, c.client)
	tok, err := c.config.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return Principal{}, fmt.Errorf("token exchange: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return Principal{}, errors.New("no id_token in the token response")
	}
	idt, err := c.verifier.Verify(ctx, raw)
	if err != nil {
		return Principal{}, fmt.Errorf("id token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return Principal{}, errors.New("id token: nonce mismatch")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Principal{}, fmt.Errorf("id token claims: %w", err)
	}
	p := Principal{ID: "oidc:" + idt.Subject, Method: "oidc"}
	if name, _ := claims["name"].(string); name != "" {
		p.Name = name
	} else if name, _ := claims["preferred_username"].(string); name != "" {
		p.Name = name
	}
	for _, v := range claimStrings(claims, c.opts.RoleClaim) {
		if r, err := ParseRole(v); err == nil && !slices.Contains(p.Roles, r) {
			p.Roles = append(p.Roles, r)
		}
	}
	for _, v := range claimStrings(claims, c.opts.SiteClaim) {
		if v == AllSites || len(v) <= 32 && !slices.Contains(p.Sites, v) {
			p.Sites = append(p.Sites, v)
		}
	}
	return p, nil
}

// claimStrings reads a claim that is a string or a list of strings,
// following a dotted path through objects.
func claimStrings(claims map[string]any, path string) []string {
	var v any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	switch v := v.(type) {
	case string:
		return strings.Fields(strings.ReplaceAll(v, ",", " "))
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
