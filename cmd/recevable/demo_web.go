package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"recevable/storage"
	"recevable/web"
)

// The staff interface of the demo, and the local accounts to log in with.

// demoAccounts are the accounts the demo makes, one per kind of user of
// DESIGN.md ("Who uses it"). The supervisor is also the operator, so that
// the quarantine page can be seen with it.
var demoAccounts = []web.Account{
	{ID: "agent", Name: "Agent de démonstration", Roles: []web.Role{web.RoleAgent}, Sites: []string{web.AllSites}},
	{ID: "superviseur", Name: "Superviseur de démonstration", Roles: []web.Role{web.RoleSuperviseur, web.RoleExploitant}, Sites: []string{web.AllSites}},
	{ID: "courrier", Name: "Service courrier de démonstration", Roles: []web.Role{web.RoleCourrier}, Sites: []string{web.AllSites}},
}

// setDemoAccounts creates the demo accounts, or resets them, with
// password. The password is drawn at each run and printed rather than
// fixed and documented: the interface listens on a loopback port that any
// local user of the machine can reach, and a password written in the
// README would let them in.
func setDemoAccounts(ctx context.Context, b storage.Bucket, password string) error {
	accts := web.Accounts{Bucket: b}
	for _, want := range demoAccounts {
		a, etag, err := accts.Get(ctx, want.ID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			if _, err := accts.Create(ctx, want, password); err != nil {
				return fmt.Errorf("demo account %s: %w", want.ID, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("demo account %s: %w", want.ID, err)
		}
		a.Name, a.Roles, a.Sites, a.Disabled = want.Name, want.Roles, want.Sites, false
		if _, err := accts.Update(ctx, a, password, etag); err != nil {
			return fmt.Errorf("demo account %s: %w", want.ID, err)
		}
	}
	return nil
}

// demoPassword draws a password of 4 groups of 4 characters, easy to
// type, from an alphabet without look-alikes (0/o, 1/l).
func demoPassword() (string, error) {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789" // 31 characters
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo password: %w", err)
	}
	out := make([]byte, 0, 19)
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			out = append(out, '-')
		}
		out = append(out, alphabet[int(c)%len(alphabet)]) // a slight bias is harmless for a demo
	}
	return string(out), nil
}
