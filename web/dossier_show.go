package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"recevable/storage"
)

// dossierMessages are what the dossier page says above the dossier.
type dossierMessages struct {
	Notice   string
	Error    string
	Conflict *conflictError
	// Tried is the action that was refused or lost the race.
	Tried *actionDef
}

// docView is one document with its links.
type docView struct {
	Doc storage.Document
	// Preview is how the page shows it: "pdf", "image", "text", "html" or
	// "" (download only).
	Preview     string
	URL         string
	DownloadURL string
	Selected    bool
	SelectURL   string
}

// actionView is one action form of the dossier page.
type actionView struct {
	Def  *actionDef
	Path string
}

// dossierView is the data of the dossier page.
type dossierView struct {
	M       *storage.Manifest
	ETag    storage.ETag
	Site    *Site
	Docs    []docView
	Preview *docView
	Actions []actionView
	History []storage.HistoryEntry
	Msg     dossierMessages
	Now     time.Time
	RawURL  string
	// AuditURL is the dossier's audit log over the last 31 days, for
	// supervisors.
	AuditURL string
	Deadline string // suggested deadline for missing pieces, YYYY-MM-DD
	// InadmissibleReasons and CloseReasons are the usual grounds offered.
	InadmissibleReasons []string
	CloseReasons        []string
}

// Grounds offered in the forms; "Autre" lets the agent write their own.
var (
	inadmissibleReasons = []string{
		"Ni invitation de la préfecture ni attestation du CCC (arrêté 2023-08-01 art. 4)",
		"Invitation révoquée ou expirée à la date d'envoi",
		"Invitation émise par une autre préfecture",
		"Résidence hors du ressort de la préfecture",
		"Justificatif falsifié",
	}
	closeReasons = []string{
		"Instruction engagée dans l'ANEF",
		"Pièces manquantes non reçues dans le délai",
		"Irrecevabilité notifiée au demandeur",
		"Désistement du demandeur",
		"Doublon d'un autre dossier",
	}
)

// actionPaths are the page routes of the actions (routes.go).
var actionPaths = map[*actionDef]string{
	actTake: "prendre", actRelease: "liberer", actConfirmAdmissible: "recevable", actHandOver: "instruction",
	actRequestPieces: "pieces", actConfirmInadmissible: "irrecevable", actClose: "clore", actReprocess: "retraiter",
}

// dossierShow is the dossier page.
func (s *Server) dossierShow(w http.ResponseWriter, r *http.Request, sess *session) {
	m, etag, err := s.getVisible(r.Context(), sess, r.PathValue("number"))
	if err != nil {
		s.dossierError(w, r, sess, err)
		return
	}
	msg := dossierMessages{}
	if done := r.URL.Query().Get("fait"); done != "" {
		for _, a := range actions {
			if a.API == done {
				msg.Notice = a.Done
			}
		}
	}
	s.showDossier(w, r, sess, m, etag, http.StatusOK, msg)
}

// showDossier renders the dossier page for m, recording the read.
func (s *Server) showDossier(w http.ResponseWriter, r *http.Request, sess *session, m *storage.Manifest, etag storage.ETag, status int, msg dossierMessages) {
	if !s.recordRead(w, r, sess, "dossier.read", m.Number, "") {
		return
	}
	site := s.site(m.Site)
	base := "/dossiers/" + url.PathEscape(m.Number)
	v := dossierView{M: m, ETag: etag, Site: site, Msg: msg, Now: s.now(), RawURL: base + "/original",
		InadmissibleReasons: inadmissibleReasons, CloseReasons: closeReasons,
		Deadline: s.now().In(site.Location).AddDate(0, 1, 0).Format("2006-01-02")}
	if sess.Has(RoleSuperviseur) {
		now := s.now().In(site.Location)
		v.AuditURL = "/journal?" + url.Values{"dossier": {m.Number}, "du": {now.AddDate(0, 0, -30).Format("2006-01-02")},
			"au": {now.Format("2006-01-02")}}.Encode()
	}
	want := r.URL.Query().Get("doc")
	for _, d := range m.Documents {
		dv := docView{Doc: d, Preview: previewKind(d),
			URL:         base + "/documents/" + url.PathEscape(d.SafeName),
			DownloadURL: base + "/documents/" + url.PathEscape(d.SafeName) + "?telecharger=1",
			SelectURL:   base + "?doc=" + url.QueryEscape(d.SafeName) + "#apercu"}
		v.Docs = append(v.Docs, dv)
	}
	for i := range v.Docs {
		d := &v.Docs[i]
		if d.Preview != "" && (want == d.Doc.SafeName || want == "" && v.Preview == nil) {
			if v.Preview != nil {
				v.Preview.Selected = false
			}
			d.Selected = true
			v.Preview = d
		}
	}
	for _, a := range actions {
		if s.offers(a, m, sess) {
			v.Actions = append(v.Actions, actionView{Def: a, Path: base + "/" + actionPaths[a]})
		}
	}
	v.History = slices.Clone(m.History)
	slices.Reverse(v.History)
	s.render(w, r, status, "dossier", page{Title: "Dossier " + m.Number, Nav: "dossiers", Session: sess, Loc: site.Location, Data: v})
}

// offers reports whether the dossier page shows action a: the actions that
// apply to the dossier's status, take when someone else (or nobody) holds
// it, release when it is held (by the agent, or by anyone for a
// supervisor), reprocess when a Reprocessor is wired.
func (s *Server) offers(a *actionDef, m *storage.Manifest, sess *session) bool {
	switch {
	case !a.applies(m.Status):
		return false
	case a == actTake:
		return m.AssignedTo != sess.ID && (m.AssignedTo == "" || sess.Has(RoleSuperviseur))
	case a == actRelease:
		return m.AssignedTo != "" && (m.AssignedTo == sess.ID || sess.Has(RoleSuperviseur))
	case a == actReprocess:
		return s.opts.Reprocessor != nil
	}
	return true
}

// previewKind says how a document can be shown inline, from its sniffed
// type (never the declared one). Executables and unknown types are only
// downloadable.
func previewKind(d storage.Document) string {
	for _, p := range d.Problems {
		if strings.HasPrefix(p, "type_executable") {
			return ""
		}
	}
	t, _, _ := strings.Cut(d.Type, ";")
	switch strings.TrimSpace(strings.ToLower(t)) {
	case "application/pdf":
		return "pdf"
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return "image"
	case "text/plain":
		return "text"
	case "text/html":
		return "html"
	}
	return ""
}
