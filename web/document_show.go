package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"recevable/storage"
)

// documentCSP is the Content-Security-Policy of a served document. The
// sandbox gives it an opaque origin with no script, form, popup or
// navigation of the page around it, and default-src 'none' lets it load
// nothing: an HTML file disguised as a PDF, or an HTML email body, is shown
// but cannot run or call home. Only this interface may frame it.
const documentCSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"

// documentShow serves one document of a dossier: inline for the types the
// browser shows safely (PDF, images, text, and HTML under the sandbox),
// as a download otherwise or with ?telecharger=1.
func (s *Server) documentShow(w http.ResponseWriter, r *http.Request, sess *session) {
	m, _, err := s.getVisible(r.Context(), sess, r.PathValue("number"))
	if err != nil {
		s.dossierError(w, r, sess, err)
		return
	}
	name := r.PathValue("name")
	idx := -1
	for i, d := range m.Documents {
		if d.SafeName == name {
			idx = i
		}
	}
	if idx < 0 {
		s.fail(w, r, sess, http.StatusNotFound, "Document introuvable", "Ce dossier ne contient pas ce document.")
		return
	}
	doc := m.Documents[idx]
	// The safe name may carry a name: the log gets the position and hash.
	if !s.recordRead(w, r, sess, "document.read", m.Number, "document "+strconv.Itoa(idx+1)+" sha256:"+doc.SHA256[:16]) {
		return
	}
	rc, _, err := s.dossiers.OpenDocument(r.Context(), m, name)
	if err != nil {
		s.dossierError(w, r, sess, err)
		return
	}
	sp, err := newSpool(rc)
	if errors.Is(err, storage.ErrIntegrity) {
		s.log.Error().Str("dossier", m.Number).Str("sha256", doc.SHA256).Msg("document integrity check failed")
		s.fail(w, r, sess, http.StatusInternalServerError, "Document altéré",
			"Le contenu stocké de ce document ne correspond plus à son empreinte enregistrée : il n'est pas affiché. Signalez-le à l'exploitant.")
		return
	}
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	defer sp.Close()
	kind := previewKind(doc)
	disposition := "inline"
	if kind == "" || r.URL.Query().Has("telecharger") || r.URL.Query().Has("download") {
		disposition = "attachment"
	}
	serveObject(w, sp, servedType(doc, kind), disposition, doc.SafeName)
}

// servedType is the Content-Type a document is served with: from the
// sniffed type, narrowed to what the preview kind allows.
func servedType(doc storage.Document, kind string) string {
	t, params, err := mime.ParseMediaType(doc.Type)
	charset := ""
	if err == nil {
		charset = params["charset"]
	}
	if charset == "" || strings.ContainsAny(charset, "\";\\ ") {
		charset = "utf-8"
	}
	switch kind {
	case "pdf", "image":
		return t
	case "text":
		return "text/plain; charset=" + charset
	case "html":
		return "text/html; charset=" + charset
	}
	return "application/octet-stream"
}

// serveObject writes a verified object with the headers of a document.
func serveObject(w http.ResponseWriter, body io.Reader, ctype, disposition, filename string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	// RFC 6266 with RFC 5987/2231 encoding of non-ASCII names.
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": filename}))
	h.Set("Content-Security-Policy", documentCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Content-Type-Options", "nosniff")
	if sp, ok := body.(*spool); ok {
		h.Set("Content-Length", strconv.FormatInt(sp.size, 10))
	}
	w.WriteHeader(http.StatusOK)
	io.Copy(w, body)
}

// dossierRaw serves the original of a dossier (the email as received, or
// the scan) as a download.
func (s *Server) dossierRaw(w http.ResponseWriter, r *http.Request, sess *session) {
	m, _, err := s.getVisible(r.Context(), sess, r.PathValue("number"))
	if err != nil {
		s.dossierError(w, r, sess, err)
		return
	}
	if !s.recordRead(w, r, sess, "raw.read", m.Number, "sha256:"+m.Raw[:16]) {
		return
	}
	s.serveRaw(w, r, sess, m.Raw, m.Number+"-original", m.Channel == storage.ChannelEmail)
}

// serveRaw sends raw item sha as an attachment named base plus an
// extension guessed from its first bytes.
func (s *Server) serveRaw(w http.ResponseWriter, r *http.Request, sess *session, sha, base string, email bool) {
	rc, _, err := s.raws.Open(r.Context(), sha)
	if errors.Is(err, storage.ErrNotFound) {
		s.fail(w, r, sess, http.StatusNotFound, "Original introuvable", "L'original n'est plus dans le stockage.")
		return
	}
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	sp, err := newSpool(rc)
	if errors.Is(err, storage.ErrIntegrity) {
		s.log.Error().Str("raw", sha).Msg("raw integrity check failed")
		s.fail(w, r, sess, http.StatusInternalServerError, "Original altéré", "L'original stocké ne correspond plus à son empreinte : il n'est pas transmis. Signalez-le à l'exploitant.")
		return
	}
	if err != nil {
		s.storageFailed(w, r, sess, err)
		return
	}
	defer sp.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(sp, head)
	head = head[:n]
	ext, ctype := ".bin", "application/octet-stream"
	switch sniffed := http.DetectContentType(head); {
	case email:
		ext, ctype = ".eml", "message/rfc822"
	case strings.HasPrefix(sniffed, "application/pdf"):
		ext, ctype = ".pdf", "application/pdf"
	case strings.HasPrefix(sniffed, "image/jpeg"):
		ext, ctype = ".jpg", "image/jpeg"
	case strings.HasPrefix(sniffed, "image/png"):
		ext, ctype = ".png", "image/png"
	case len(head) > 3 && (string(head[:4]) == "II*\x00" || string(head[:4]) == "MM\x00*"):
		ext, ctype = ".tif", "image/tiff"
	}
	serveObject(w, io.MultiReader(strings.NewReader(string(head)), sp), ctype, "attachment", base+ext)
}
