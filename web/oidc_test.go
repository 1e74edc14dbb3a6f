package web

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testIdP is a tiny OpenID Connect provider on loopback: discovery, JWKS,
// an authorization endpoint that consents at once, and a token endpoint
// that checks the client secret and PKCE and signs an ID token (RS256)
// with a test key. Claims and faults are set per test.
type testIdP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	rogue  *rsa.PrivateKey // signs when forgeSignature is set
	secret string

	mu             sync.Mutex
	claims         map[string]any
	wrongNonce     bool
	forgeSignature bool
	codes          map[string]idpGrant
}

type idpGrant struct {
	nonce, challenge, redirect string
}

func newTestIdP(t *testing.T) *testIdP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &testIdP{t: t, key: key, rogue: rogue, secret: "client-secret-for-tests", codes: map[string]idpGrant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *testIdP) discovery(w http.ResponseWriter, r *http.Request) {
	u := p.srv.URL
	json.NewEncoder(w).Encode(map[string]any{
		"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token", "jwks_uri": u + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
	})
}

func (p *testIdP) jwks(w http.ResponseWriter, r *http.Request) {
	json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

func (p *testIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != "recevable" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := randomString()
	p.mu.Lock()
	p.codes[code] = idpGrant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	p.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *testIdP) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != "recevable" || secret != p.secret {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	g, ok := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code"))
	claims := map[string]any{}
	for k, v := range p.claims {
		claims[k] = v
	}
	wrongNonce, forge := p.wrongNonce, p.forgeSignature
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if !ok || g.redirect != r.PostFormValue("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	now := time.Now()
	claims["iss"], claims["aud"], claims["iat"], claims["exp"] = p.srv.URL, "recevable", now.Unix(), now.Add(5*time.Minute).Unix()
	claims["nonce"] = g.nonce
	if wrongNonce {
		claims["nonce"] = "not-the-nonce"
	}
	key := p.key
	if forge {
		key = p.rogue
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		p.t.Error(err)
		return
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		p.t.Error(err)
		return
	}
	idToken, _ := jws.CompactSerialize()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + randomString(), "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

func (p *testIdP) set(claims map[string]any, wrongNonce, forge bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims, p.wrongNonce, p.forgeSignature = claims, wrongNonce, forge
}

// oidcBrowser is an HTTP client trusting both loopback servers that walks
// the redirects of the login by hand.
func oidcBrowser(t *testing.T, servers ...*httptest.Server) *client {
	pool := x509.NewCertPool()
	for _, s := range servers {
		pool.AddCert(s.Certificate())
	}
	jar, _ := cookiejar.New(nil)
	return &client{Client: &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, base: servers[0].URL}
}

// walk follows redirects across both servers and returns the last response
// and its body.
func walk(t *testing.T, c *client, start string) (*http.Response, string, []string) {
	t.Helper()
	next := start
	var hops []string
	for range 10 {
		resp, err := c.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		hops = append(hops, resp.Request.URL.Path)
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			return resp, body.String(), hops
		}
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		next = loc.String()
	}
	t.Fatalf("too many redirects: %v", hops)
	return nil, "", nil
}

func newOIDCFixture(t *testing.T, idp *testIdP, roleClaim string) *fixture {
	return newFixture(t, func(o *Options) {
		o.OIDC = &OIDCOptions{Issuer: idp.srv.URL, ClientID: "recevable", ClientSecret: idp.secret,
			Scopes: []string{"openid", "profile"}, RoleClaim: roleClaim, SiteClaim: "sites", HTTPClient: idp.srv.Client()}
	})
}

// TestOIDCLogin logs in through the authorization code flow with PKCE
// against the test provider and checks what the session holds.
func TestOIDCLogin(t *testing.T) {
	idp := newTestIdP(t)
	tests := []struct {
		name      string
		roleClaim string
		claims    map[string]any
		nonce     bool // provider answers with a wrong nonce
		forge     bool // ID token signed with a key not in the JWKS
		status    int
		roles     []Role
	}{
		{name: "agent", roleClaim: "roles", status: http.StatusOK, roles: []Role{RoleAgent},
			claims: map[string]any{"sub": "f3a9-agent", "name": "Jeanne Martin", "roles": []string{"agent", "other-app-admin"}, "sites": []string{"pp"}}},
		{name: "keycloak nested roles", roleClaim: "realm_access.roles", status: http.StatusOK, roles: []Role{RoleSuperviseur, RoleCourrier},
			claims: map[string]any{"sub": "kc-42", "realm_access": map[string]any{"roles": []string{"superviseur", "courrier"}}, "sites": "pp rhone"}},
		{name: "no recevable role", roleClaim: "roles", status: http.StatusForbidden,
			claims: map[string]any{"sub": "x", "roles": []string{"admin"}, "sites": []string{"pp"}}},
		{name: "no site", roleClaim: "roles", status: http.StatusForbidden,
			claims: map[string]any{"sub": "x", "roles": []string{"agent"}}},
		{name: "wrong nonce", roleClaim: "roles", nonce: true, status: http.StatusUnauthorized,
			claims: map[string]any{"sub": "x", "roles": []string{"agent"}, "sites": []string{"pp"}}},
		{name: "forged signature", roleClaim: "roles", forge: true, status: http.StatusUnauthorized,
			claims: map[string]any{"sub": "x", "roles": []string{"agent"}, "sites": []string{"pp"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newOIDCFixture(t, idp, tc.roleClaim)
			idp.set(tc.claims, tc.nonce, tc.forge)
			c := oidcBrowser(t, f.ts, idp.srv)
			resp, body, hops := walk(t, c, f.ts.URL+"/dossiers")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "/oidc/connexion") {
				t.Fatalf("start: %s via %v, want the login page offering single sign-on", resp.Status, hops)
			}
			resp, body, hops = walk(t, c, f.ts.URL+"/oidc/connexion?retour=/dossiers")
			if resp.StatusCode != tc.status {
				t.Fatalf("login: %s via %v, want %d; %s", resp.Status, hops, tc.status, firstLine([]byte(body)))
			}
			if tc.status != http.StatusOK {
				if r, _ := c.get(t, "/api/me"); r.StatusCode != http.StatusUnauthorized {
					t.Errorf("after a refused login /api/me answers %s, want 401", r.Status)
				}
				return
			}
			if want := "/dossiers"; hops[len(hops)-1] != want && slicesHasRole(tc.roles, RoleAgent) {
				t.Errorf("landed on %s, want back at %s", hops[len(hops)-1], want)
			}
			r, data := c.get(t, "/api/me")
			var me apiMeResponse
			if err := json.Unmarshal(data, &me); err != nil || r.StatusCode != http.StatusOK {
				t.Fatalf("/api/me: %s %s", r.Status, data)
			}
			if me.ID != "oidc:"+tc.claims["sub"].(string) || me.Method != "oidc" {
				t.Errorf("principal %+v", me.Principal)
			}
			if len(me.Roles) != len(tc.roles) {
				t.Errorf("roles %v, want %v", me.Roles, tc.roles)
			}
			for _, want := range tc.roles {
				if !slicesHasRole(me.Roles, want) {
					t.Errorf("roles %v, want %v", me.Roles, tc.roles)
				}
			}
		})
	}
}

// TestOIDCStateMismatch refuses a callback whose state is not the one
// this browser started with (a login CSRF).
func TestOIDCStateMismatch(t *testing.T) {
	idp := newTestIdP(t)
	f := newOIDCFixture(t, idp, "roles")
	idp.set(map[string]any{"sub": "x", "roles": []string{"agent"}, "sites": []string{"pp"}}, false, false)
	attacker := oidcBrowser(t, f.ts, idp.srv)
	// The attacker starts a login and stops before the callback.
	resp, err := attacker.Get(f.ts.URL + "/oidc/connexion")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authz := resp.Header.Get("Location")
	resp, err = attacker.Get(authz)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	// The victim's browser is sent to the attacker's callback.
	victim := oidcBrowser(t, f.ts, idp.srv)
	resp, err = victim.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "fait=expire") {
		t.Errorf("forged callback: %s to %q, want 303 back to the login page", resp.Status, resp.Header.Get("Location"))
	}
	if r, _ := victim.get(t, "/api/me"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the victim got a session: /api/me %s", r.Status)
	}
}

func slicesHasRole(l []Role, r Role) bool {
	for _, x := range l {
		if x == r {
			return true
		}
	}
	return false
}
