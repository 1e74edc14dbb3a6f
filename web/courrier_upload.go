package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"recevable/intake"
	"recevable/storage"
)

// MailroomIntake registers a letter uploaded by the mailroom through the
// postal channel. cmd wires it to the postal source of the workers.
//
// Submit stores the files as one raw item before it returns (ack after
// store: when it returns nil, the clerk may put the paper away) and hands
// the item to the pipeline. The files are the scanned pages or pieces of
// ONE letter, in order. An error that intake.IsPermanent reports means the
// upload cannot be accepted as it is (unreadable, over a limit) and is
// shown to the clerk; any other error means nothing was stored and the
// clerk may retry.
type MailroomIntake interface {
	Submit(ctx context.Context, sub MailroomSubmission) (MailroomReceipt, error)
}

// MailroomSubmission is one uploaded letter.
type MailroomSubmission struct {
	Site  string
	Files []MailroomFile
	// Postal dates and number as the clerk recorded them (Source "form").
	Postal storage.Postal
	// Sender as written on the envelope or the letter; may be empty.
	Sender storage.Party
	// UploadedBy is the account id of the clerk: the item's source
	// coordinates.
	UploadedBy string
}

// MailroomFile is one uploaded file. Open may be called more than once.
type MailroomFile struct {
	Name string
	// Type is sniffed from the first bytes (application/pdf, image/jpeg,
	// image/png, image/tiff); the browser's claim is not trusted.
	Type string
	Size int64
	Open func() (io.ReadCloser, error)
}

// MailroomReceipt is what the mailroom gets back.
type MailroomReceipt struct {
	// Raw is the SHA-256 of the stored item.
	Raw string `json:"raw"`
	// Number is the registration number when it was given at once, to be
	// written on the letter; "" when the pipeline gives it later.
	Number string `json:"number,omitempty"`
}

// courrierView is the data of the mailroom page.
type courrierView struct {
	Sites    []Site
	Site     string
	Today    string
	Receipt  *MailroomReceipt
	Files    int
	Form     courrierForm
	Disabled bool
	MaxSize  string
}

// courrierForm echoes what the clerk typed when the upload is refused.
type courrierForm struct {
	Received, Postmark, Registered, SenderName, SenderAddress string
}

// courrierForm shows the upload form and, after an upload, its receipt.
func (s *Server) courrierForm(w http.ResponseWriter, r *http.Request, sess *session) {
	v := s.newCourrierView(sess)
	q := r.URL.Query()
	p := page{Title: "Courrier", Nav: "courrier", Session: sess, Data: &v}
	if raw := q.Get("recu"); storage.CheckSHA256(raw) == nil {
		v.Receipt = &MailroomReceipt{Raw: raw, Number: q.Get("numero")}
		if v.Receipt.Number != "" {
			if _, _, _, err := storage.ParseNumber(v.Receipt.Number); err != nil {
				v.Receipt.Number = ""
			}
		}
		p.Notice = "Le courrier est enregistré."
	}
	s.render(w, r, http.StatusOK, "courrier", p)
}

func (s *Server) newCourrierView(sess *session) courrierView {
	sites := sess.visibleSites(s.sites)
	v := courrierView{Sites: sites, Disabled: s.opts.Mailroom == nil, MaxSize: humanBytes(s.opts.MaxUploadBytes)}
	if len(sites) > 0 {
		v.Site = sites[0].ID
		v.Today = s.now().In(sites[0].Location).Format("2006-01-02")
	}
	return v
}

// courrierUpload receives a letter from the form.
func (s *Server) courrierUpload(w http.ResponseWriter, r *http.Request, sess *session) {
	v := s.newCourrierView(sess)
	v.Form = courrierForm{Received: r.PostFormValue("reception"), Postmark: r.PostFormValue("cachet"),
		Registered: r.PostFormValue("recommande"), SenderName: r.PostFormValue("expediteur_nom"),
		SenderAddress: r.PostFormValue("expediteur_adresse")}
	if site := r.PostFormValue("site"); site != "" {
		v.Site = site
	}
	receipt, status, msg := s.submitLetter(r, sess, v.Site, v.Form, r.MultipartForm)
	if msg != "" {
		s.render(w, r, status, "courrier", page{Title: "Courrier", Nav: "courrier", Session: sess, Error: msg, Data: &v})
		return
	}
	target := "/courrier?recu=" + receipt.Raw
	if receipt.Number != "" {
		target += "&numero=" + url.QueryEscape(receipt.Number)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// submitLetter checks an upload and hands it to the mailroom intake. On
// refusal it returns the status and the French message.
func (s *Server) submitLetter(r *http.Request, sess *session, site string, f courrierForm, form *multipart.Form) (MailroomReceipt, int, string) {
	if s.opts.Mailroom == nil {
		return MailroomReceipt{}, http.StatusServiceUnavailable, "Le dépôt de courrier n'est pas disponible sur cette installation."
	}
	st := s.site(site)
	if st == nil || !sess.Sees(site) {
		return MailroomReceipt{}, http.StatusForbidden, "Ce site ne vous est pas ouvert."
	}
	day := func(v, what string, required bool) (*time.Time, string) {
		if strings.TrimSpace(v) == "" {
			if required {
				return nil, "Indiquez la " + what + "."
			}
			return nil, ""
		}
		t, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(v), st.Location)
		if err != nil {
			return nil, "La " + what + " n'est pas une date."
		}
		return &t, ""
	}
	received, msg := day(f.Received, "date de réception", true)
	if msg != "" {
		return MailroomReceipt{}, http.StatusUnprocessableEntity, msg
	}
	postmark, msg := day(f.Postmark, "date du cachet de la poste", false)
	if msg != "" {
		return MailroomReceipt{}, http.StatusUnprocessableEntity, msg
	}
	today := civilDay(s.now(), st.Location)
	if received.After(today) {
		return MailroomReceipt{}, http.StatusUnprocessableEntity, "La date de réception est dans le futur."
	}
	// CRPA L112-1: the postmark counts; one after the receipt is a typo.
	if postmark != nil && postmark.After(*received) {
		return MailroomReceipt{}, http.StatusUnprocessableEntity, "La date du cachet de la poste est postérieure à la date de réception."
	}
	registered := strings.TrimSpace(f.Registered)
	if len(registered) > 40 {
		return MailroomReceipt{}, http.StatusUnprocessableEntity, "Le numéro de recommandé est trop long."
	}
	var headers []*multipart.FileHeader
	if form != nil {
		headers = append(form.File["fichiers"], form.File["files"]...)
	}
	if len(headers) == 0 {
		return MailroomReceipt{}, http.StatusUnprocessableEntity, "Joignez au moins un fichier numérisé."
	}
	files := make([]MailroomFile, 0, len(headers))
	for i, fh := range headers {
		ctype, err := sniffUpload(fh)
		if err != nil {
			return MailroomReceipt{}, http.StatusUnprocessableEntity, fmt.Sprintf("Fichier %d : %s", i+1, err)
		}
		files = append(files, MailroomFile{Name: fh.Filename, Type: ctype, Size: fh.Size,
			Open: func() (io.ReadCloser, error) { return fh.Open() }})
	}
	sub := MailroomSubmission{
		Site: site, Files: files, UploadedBy: sess.ID,
		Postal: storage.Postal{Received: received, Postmark: postmark, Registered: registered, Source: "form"},
		Sender: storage.Party{Name: strings.TrimSpace(f.SenderName), Address: strings.TrimSpace(f.SenderAddress)},
	}
	receipt, err := s.opts.Mailroom.Submit(r.Context(), sub)
	if intake.IsPermanent(err) {
		s.log.Warn().Err(err).Str("site", site).Msg("mailroom upload refused")
		return MailroomReceipt{}, http.StatusUnprocessableEntity, "Le courrier n'a pas pu être accepté : " + err.Error()
	}
	if err != nil {
		s.log.Error().Err(err).Str("site", site).Msg("mailroom upload failed")
		return MailroomReceipt{}, http.StatusServiceUnavailable, "Le courrier n'a pas pu être enregistré (rien n'a été conservé). Réessayez dans un instant."
	}
	s.record(r.Context(), sess.ID, "courrier.upload", receipt.Number, fmt.Sprintf("%d fichier(s) sha256:%.16s", len(files), receipt.Raw))
	return receipt, http.StatusCreated, ""
}

// uploadTypes are the formats a scanner produces.
var uploadTypes = []string{"application/pdf", "image/jpeg", "image/png", "image/tiff"}

// sniffUpload reads the first bytes of an uploaded file to learn its type.
func sniffUpload(fh *multipart.FileHeader) (string, error) {
	if fh.Size == 0 {
		return "", errors.New("le fichier est vide")
	}
	f, err := fh.Open()
	if err != nil {
		return "", errors.New("le fichier n'a pas pu être lu")
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	t := http.DetectContentType(head)
	if n >= 4 && (string(head[:4]) == "II*\x00" || string(head[:4]) == "MM\x00*") {
		t = "image/tiff"
	}
	t, _, _ = strings.Cut(t, ";")
	if !slices.Contains(uploadTypes, t) {
		return "", errors.New("format non pris en charge (PDF, JPEG, PNG ou TIFF attendu)")
	}
	return t, nil
}
