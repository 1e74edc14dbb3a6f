package web

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// loginLimiter slows password guessing: token buckets per client address
// and per login, in this process. With several replicas an attacker gets
// each replica's allowance; the per-login bucket still caps guesses at a
// few per minute per replica, far below what guessing a 12-character
// password needs. Only failures spend tokens, so a user who types the
// password right is never held back by someone else's failures from
// another address — except on the per-login bucket, which is the point.
type loginLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	byAddr  map[string]*rate.Limiter
	byLogin map[string]*rate.Limiter
}

// Allowances: a burst of failures, then one try per interval.
const (
	loginAddrBurst    = 20
	loginAddrEvery    = 3 * time.Second
	loginAccountBurst = 5
	loginAccountEvery = 20 * time.Second
	// limiterMax bounds each map; past it the map is emptied (an attacker
	// spraying addresses resets everyone, which only returns to the burst).
	limiterMax = 50000
)

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, byAddr: map[string]*rate.Limiter{}, byLogin: map[string]*rate.Limiter{}}
}

func (l *loginLimiter) get(m map[string]*rate.Limiter, key string, every time.Duration, burst int) *rate.Limiter {
	lim, ok := m[key]
	if !ok {
		if len(m) >= limiterMax {
			clear(m)
		}
		lim = rate.NewLimiter(rate.Every(every), burst)
		m[key] = lim
	}
	return lim
}

// allow reports whether a login attempt from addr for login may be
// checked now; when not, retry says how long to wait.
func (l *loginLimiter) allow(addr, login string) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	a := l.get(l.byAddr, addr, loginAddrEvery, loginAddrBurst)
	u := l.get(l.byLogin, login, loginAccountEvery, loginAccountBurst)
	if t := a.TokensAt(now); t < 1 {
		return false, time.Duration((1 - t) * float64(loginAddrEvery))
	}
	if t := u.TokensAt(now); t < 1 {
		return false, time.Duration((1 - t) * float64(loginAccountEvery))
	}
	return true, 0
}

// failed spends a token of both buckets.
func (l *loginLimiter) failed(addr, login string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.get(l.byAddr, addr, loginAddrEvery, loginAddrBurst).AllowN(now, 1)
	l.get(l.byLogin, login, loginAccountEvery, loginAccountBurst).AllowN(now, 1)
}
