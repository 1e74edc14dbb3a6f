package validate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Territorial competence. arrêté 2023-08-01 art. 4 al. 2 and 3: the
// invitation must come from the territorially competent prefecture, and the
// filing goes to the prefecture or a sub-prefecture of the department of
// residence (in Paris, the préfecture de police; art. 5 for Saint-Barthélemy
// and Saint-Martin). Each configured site lists the departments it serves;
// this file answers "which site serves this department" and "is this site
// competent".

// SiteInfo is what the assessment needs to know about one configured site.
type SiteInfo struct {
	// ID is the site id ("75", "sp-bobigny"); Name is printed in reasons.
	ID   string
	Name string
	// Departments served, as INSEE writes them ("75", "2A", "974").
	Departments []string
	// Location is the site's time zone: the calendar day of a receipt date
	// is taken there. Nil means UTC.
	Location *time.Location
	// Keys are the public keys the site trusts (its own and other sites').
	// Keys.Site must be ID.
	Keys KeySet
}

// Serves reports whether the site serves department dept.
func (s SiteInfo) Serves(dept string) bool { return slices.Contains(s.Departments, dept) }

// label is how a site is named in a French sentence: its name and id.
func (s SiteInfo) label() string {
	if s.Name == "" {
		return "site " + s.ID
	}
	return fmt.Sprintf("%s (site %s)", s.Name, s.ID)
}

// Territory is the directory of the configured sites.
type Territory struct {
	sites  []SiteInfo
	byID   map[string]int
	byCode map[string]int
}

// NewTerritory indexes sites by id and by reference code (SiteCode). Two
// sites with the same id or the same code are refused: a reference could not
// say which one issued it.
func NewTerritory(sites []SiteInfo) (*Territory, error) {
	t := &Territory{sites: sites, byID: map[string]int{}, byCode: map[string]int{}}
	for i, s := range sites {
		code, err := SiteCode(s.ID)
		if err != nil {
			return nil, fmt.Errorf("territory: %w", err)
		}
		if j, dup := t.byID[s.ID]; dup {
			return nil, fmt.Errorf("territory: site %q listed twice (%d and %d)", s.ID, j, i)
		}
		if j, dup := t.byCode[code]; dup {
			return nil, fmt.Errorf("territory: sites %q and %q have the same reference code %s", sites[j].ID, s.ID, code)
		}
		if s.Keys.Site != "" && s.Keys.Site != s.ID {
			return nil, fmt.Errorf("territory: site %q has the key set of site %q", s.ID, s.Keys.Site)
		}
		t.byID[s.ID], t.byCode[code] = i, i
	}
	return t, nil
}

// Site returns the site with this id.
func (t *Territory) Site(id string) (SiteInfo, bool) {
	i, ok := t.byID[id]
	if !ok {
		return SiteInfo{}, false
	}
	return t.sites[i], true
}

// ByCode returns the site whose references carry this code.
func (t *Territory) ByCode(code string) (SiteInfo, bool) {
	i, ok := t.byCode[code]
	if !ok {
		return SiteInfo{}, false
	}
	return t.sites[i], true
}

// Competent returns the sites serving dept, in configuration order.
func (t *Territory) Competent(dept string) []SiteInfo {
	var out []SiteInfo
	for _, s := range t.sites {
		if s.Serves(dept) {
			out = append(out, s)
		}
	}
	return out
}

// shareDepartment reports whether a and b serve a common department: a
// prefecture and its sub-prefectures (arrêté 2023-08-01 art. 4 al. 3: "la
// préfecture ou une sous-préfecture du département de résidence").
func shareDepartment(a, b SiteInfo) bool {
	for _, d := range a.Departments {
		if b.Serves(d) {
			return true
		}
	}
	return false
}

// competentLabel names the sites serving dept for a French sentence, or says
// that none is configured.
func (t *Territory) competentLabel(dept string) string {
	sites := t.Competent(dept)
	if len(sites) == 0 {
		return "aucun site configuré ici ne le dessert"
	}
	names := make([]string, len(sites))
	for i, s := range sites {
		names[i] = s.label()
	}
	return "site compétent : " + strings.Join(names, " ou ")
}

// postalCode finds the last French postal code (5 digits) of an address.
var postalCode = regexp.MustCompile(`(?:^|[^0-9])([0-9]{5})(?:[^0-9]|$)`)

// DepartmentOfAddress returns the department of the last postal code written
// in address, or "" when there is none or it is not a French department's.
// Postal codes begin with the department number, except in Corsica (20xxx:
// 200–201 are Corse-du-Sud, 2A; the others Haute-Corse, 2B) and overseas
// (97x, three digits). Monaco (980xx) and CEDEX codes of other kinds give "".
func DepartmentOfAddress(address string) string {
	m := postalCode.FindAllStringSubmatch(address, -1)
	if len(m) == 0 {
		return ""
	}
	code := m[len(m)-1][1]
	switch {
	case strings.HasPrefix(code, "97"):
		if d := code[:3]; d >= "971" && d <= "978" {
			return d
		}
		return ""
	case strings.HasPrefix(code, "98"), code[:2] == "00":
		return ""
	case strings.HasPrefix(code, "20"):
		if code[:3] == "200" || code[:3] == "201" {
			return "2A"
		}
		return "2B"
	}
	return code[:2]
}
