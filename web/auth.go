package web

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what an account may do. An account holds one or more roles; each
// route lists the roles it admits (routes.go), and nothing else decides.
type Role string

const (
	// RoleAgent: an agent of the bureau des étrangers — reviews the queue,
	// opens dossiers, takes the art. 4 decisions.
	RoleAgent Role = "agent"
	// RoleCourrier: the mailroom — uploads scanned letters, never opens a
	// dossier (it sees none of the applicants' data once it is registered).
	RoleCourrier Role = "courrier"
	// RoleSuperviseur: a supervisor — what agents do, plus invitations,
	// quarantine and the audit log.
	RoleSuperviseur Role = "superviseur"
	// RoleExploitant: an operator — the quarantine (technical failures) and
	// reprocessing; no dossier content.
	RoleExploitant Role = "exploitant"
)

// Roles lists every role, in the order the interface shows them.
var Roles = []Role{RoleAgent, RoleCourrier, RoleSuperviseur, RoleExploitant}

// ParseRole accepts a role name, case-insensitively.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want one of agent, courrier, superviseur, exploitant)", s)
}

// AllSites in an account's site list means every site of the deployment.
const AllSites = "*"

// Principal is who is making a request: an authenticated account with its
// roles and the sites whose dossiers it may see.
type Principal struct {
	// ID is the account id written in the audit log and the dossier history:
	// a local login, or "oidc:<subject>" for single sign-on.
	ID string `json:"id"`
	// Name is shown in the page header; never logged.
	Name  string   `json:"name,omitempty"`
	Roles []Role   `json:"roles"`
	Sites []string `json:"sites"`
	// Method is "local" or "oidc".
	Method string `json:"method"`
}

// Has reports whether p holds role r.
func (p *Principal) Has(r Role) bool { return p != nil && slices.Contains(p.Roles, r) }

// HasAny reports whether p holds one of roles.
func (p *Principal) HasAny(roles []Role) bool {
	for _, r := range roles {
		if p.Has(r) {
			return true
		}
	}
	return false
}

// Sees reports whether p may see the dossiers of site.
func (p *Principal) Sees(site string) bool {
	if p == nil {
		return false
	}
	return slices.Contains(p.Sites, AllSites) || slices.Contains(p.Sites, site)
}

// visibleSites returns the configured sites p may see, in configuration
// order.
func (p *Principal) visibleSites(all []Site) []Site {
	var out []Site
	for _, s := range all {
		if p.Sees(s.ID) {
			out = append(out, s)
		}
	}
	return out
}

// roleLabel is the French name of a role, for pages.
func roleLabel(r Role) string {
	switch r {
	case RoleAgent:
		return "Agent instructeur"
	case RoleCourrier:
		return "Service courrier"
	case RoleSuperviseur:
		return "Superviseur"
	case RoleExploitant:
		return "Exploitant"
	}
	return string(r)
}

// roleList is the French list of roles, for the "reserved to" message.
func roleList(roles []Role) string {
	labels := make([]string, len(roles))
	for i, r := range roles {
		labels[i] = roleLabel(r)
	}
	return strings.Join(labels, ", ")
}
