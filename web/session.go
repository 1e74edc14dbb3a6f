package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"recevable/storage"
)

// Sessions are records in the bucket, state/sessions/<hash>.json, so that
// every replica knows them and logging out ends them everywhere. The cookie
// holds a random token and its HMAC under the session key: a forged cookie
// is refused without touching the bucket, and the record's key is the
// SHA-256 of the token, so reading the bucket gives no usable cookie.
const sessionPrefix = "state/sessions/"

const (
	// sessionIdle ends a session nobody used for that long.
	sessionIdle = 2 * time.Hour
	// sessionMax ends any session: a working day, then log in again.
	sessionMax = 12 * time.Hour
	// sessionTouch is how stale the last-seen time may get before a
	// request rewrites it (a write per request would be wasteful).
	sessionTouch = 5 * time.Minute
	// sessionCacheTTL is how long a replica trusts a record it read. A
	// logout on another replica takes effect here within it.
	sessionCacheTTL = 10 * time.Second
	// sessionCacheMax bounds the cache; past it, it is emptied.
	sessionCacheMax = 10000
)

// sessionRecord is the stored session.
type sessionRecord struct {
	Principal Principal `json:"principal"`
	// CSRF is the token every state-changing request must carry.
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Seen    time.Time `json:"seen"`
}

// expired says whether the session is over at now: past sessionMax since
// its start or sessionIdle since its last use.
func (r sessionRecord) expired(now time.Time) bool {
	return now.Sub(r.Created) > sessionMax || now.Sub(r.Seen) > sessionIdle
}

// session is a live session as handlers see it.
type session struct {
	Principal
	CSRF string
	hash string
	etag storage.ETag
	rec  sessionRecord
}

type cachedSession struct {
	sess    *session
	fetched time.Time
}

// sessionStore creates, loads and ends sessions.
type sessionStore struct {
	b   storage.Bucket
	key []byte
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedSession
}

func newSessionStore(b storage.Bucket, key []byte, now func() time.Time) *sessionStore {
	return &sessionStore{b: b, key: key, now: now, cache: make(map[string]cachedSession)}
}

// errNoSession: the request carries no valid session.
var errNoSession = errors.New("no valid session")

// create starts a session for p and returns the cookie value.
func (st *sessionStore) create(ctx context.Context, p Principal) (string, *session, error) {
	token := make([]byte, 32)
	csrf := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return "", nil, err
	}
	if _, err := rand.Read(csrf); err != nil {
		return "", nil, err
	}
	now := st.now().UTC()
	rec := sessionRecord{Principal: p, CSRF: base64.RawURLEncoding.EncodeToString(csrf), Created: now, Seen: now}
	hash := tokenHash(token)
	etag, err := st.put(ctx, hash, rec, storage.PutOptions{IfAbsent: true})
	if err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	sess := &session{Principal: p, CSRF: rec.CSRF, hash: hash, etag: etag, rec: rec}
	st.remember(sess)
	return st.sign(token), sess, nil
}

// load returns the session named by a cookie value, or errNoSession when
// the cookie is forged, unknown or expired. Other errors are the bucket's.
func (st *sessionStore) load(ctx context.Context, cookie string) (*session, error) {
	token, ok := st.verify(cookie)
	if !ok {
		return nil, errNoSession
	}
	hash := tokenHash(token)
	now := st.now()
	st.mu.Lock()
	c, hit := st.cache[hash]
	st.mu.Unlock()
	sess := c.sess
	if !hit || now.Sub(c.fetched) > sessionCacheTTL {
		var err error
		sess, err = st.read(ctx, hash)
		if errors.Is(err, storage.ErrNotFound) {
			st.forget(hash)
			return nil, errNoSession
		}
		if err != nil {
			return nil, err
		}
		st.remember(sess)
	}
	if sess.rec.expired(now) {
		st.destroy(context.WithoutCancel(ctx), sess)
		return nil, errNoSession
	}
	if now.Sub(sess.rec.Seen) > sessionTouch {
		st.touch(ctx, sess, now)
	}
	return sess, nil
}

// touch records activity. A failure (the session ended elsewhere, the
// bucket hiccuped) only costs an earlier idle expiry.
func (st *sessionStore) touch(ctx context.Context, sess *session, now time.Time) {
	rec := sess.rec
	rec.Seen = now.UTC()
	etag, err := st.put(ctx, sess.hash, rec, storage.PutOptions{IfMatch: sess.etag})
	if err != nil {
		st.forget(sess.hash)
		return
	}
	fresh := *sess
	fresh.rec, fresh.etag = rec, etag
	st.remember(&fresh)
}

// destroy ends a session. Ending a session already gone is a success.
func (st *sessionStore) destroy(ctx context.Context, sess *session) error {
	st.forget(sess.hash)
	if err := st.b.Delete(ctx, sessionPrefix+sess.hash+".json"); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// sweep deletes the records of expired sessions (nobody can use them any
// more; the browser that held one simply logs in again) and returns how
// many it removed.
func (st *sessionStore) sweep(ctx context.Context) (int, error) {
	now := st.now()
	return st.removeWhere(ctx, func(sess *session, err error) (bool, error) {
		// An unreadable record is no session either.
		return err != nil || sess.rec.expired(now), nil
	})
}

// EndSessions ends every session of account id, on every replica within
// the 10 seconds they trust a session they read: what `recevable user
// disable` and `user passwd` do, so that a disabled account or a changed
// password takes effect now rather than at the sessions' idle limit. It
// returns how many sessions it ended.
func EndSessions(ctx context.Context, b storage.Bucket, id string) (int, error) {
	st := newSessionStore(b, nil, time.Now)
	n, err := st.removeWhere(ctx, func(sess *session, err error) (bool, error) {
		return err == nil && sess.ID == id, err
	})
	if err != nil {
		return n, fmt.Errorf("end sessions of %s: %w", id, err)
	}
	return n, nil
}

// removeWhere reads every session record and deletes those remove says
// to, returning how many it deleted. remove gets the record or the error
// reading it (a record deleted meanwhile is skipped); an error it returns
// stops the walk.
func (st *sessionStore) removeWhere(ctx context.Context, remove func(*session, error) (bool, error)) (int, error) {
	n := 0
	err := storage.ListAll(ctx, st.b, sessionPrefix, func(o storage.Info) error {
		hash := strings.TrimSuffix(strings.TrimPrefix(o.Key, sessionPrefix), ".json")
		sess, err := st.read(ctx, hash)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if ok, err := remove(sess, err); err != nil || !ok {
			return err
		}
		st.forget(hash)
		if err := st.b.Delete(ctx, o.Key); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

func (st *sessionStore) read(ctx context.Context, hash string) (*session, error) {
	var rec sessionRecord
	etag, err := storage.GetJSON(ctx, st.b, sessionPrefix+hash+".json", &rec)
	if err != nil {
		return nil, err
	}
	return &session{Principal: rec.Principal, CSRF: rec.CSRF, hash: hash, etag: etag, rec: rec}, nil
}

func (st *sessionStore) put(ctx context.Context, hash string, rec sessionRecord, o storage.PutOptions) (storage.ETag, error) {
	return storage.PutJSON(ctx, st.b, sessionPrefix+hash+".json", rec, o)
}

func (st *sessionStore) remember(sess *session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.cache) >= sessionCacheMax {
		clear(st.cache)
	}
	st.cache[sess.hash] = cachedSession{sess: sess, fetched: st.now()}
}

func (st *sessionStore) forget(hash string) {
	st.mu.Lock()
	delete(st.cache, hash)
	st.mu.Unlock()
}

// sign makes the cookie value: token "." HMAC-SHA256(key, token).
func (st *sessionStore) sign(token []byte) string {
	m := hmac.New(sha256.New, st.key)
	m.Write(token)
	return base64.RawURLEncoding.EncodeToString(token) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify checks a cookie value and returns its token.
func (st *sessionStore) verify(cookie string) ([]byte, bool) {
	t, mac, ok := strings.Cut(cookie, ".")
	if !ok || len(cookie) > 200 {
		return nil, false
	}
	token, err1 := base64.RawURLEncoding.DecodeString(t)
	got, err2 := base64.RawURLEncoding.DecodeString(mac)
	if err1 != nil || err2 != nil || len(token) != 32 {
		return nil, false
	}
	m := hmac.New(sha256.New, st.key)
	m.Write(token)
	return token, hmac.Equal(got, m.Sum(nil))
}

func tokenHash(token []byte) string {
	h := sha256.Sum256(token)
	return hex.EncodeToString(h[:])
}

// Cookie names. With https, the __Host- prefix makes the browser refuse a
// cookie set by a sibling subdomain or over http (RFC 6265bis §4.1.3.2).
func (s *Server) cookieName(base string) string {
	if s.secure {
		return "__Host-" + base
	}
	return base
}

// setCookie writes a cookie with the attributes every cookie of this
// interface has: Path=/, HttpOnly, SameSite=Lax, Secure over https. Lax
// rather than Strict so that a link to a dossier (from an email, from
// ANEF) opens it; cross-site POSTs are refused by the CSRF checks anyway.
func (s *Server) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: s.cookieName(base), Value: value, Path: "/",
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// sessionCookie is the base name of the session cookie.
const sessionCookie = "recevable_session"

// currentSession returns the request's session, or errNoSession.
func (s *Server) currentSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil {
		return nil, errNoSession
	}
	return s.sessions.load(r.Context(), c.Value)
}
