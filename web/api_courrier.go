package web

import (
	"net/http"
)

// apiCourrierUpload receives a letter as multipart/form-data: files
// (repeated), site, received (YYYY-MM-DD), postmark, registered,
// sender_name, sender_address. It answers 201 with the receipt.
func (s *Server) apiCourrierUpload(w http.ResponseWriter, r *http.Request, sess *session) {
	if r.MultipartForm == nil {
		writeJSONError(w, http.StatusUnsupportedMediaType, "bad_request", "want multipart/form-data")
		return
	}
	site := r.PostFormValue("site")
	if site == "" {
		if sites := sess.visibleSites(s.sites); len(sites) > 0 {
			site = sites[0].ID
		}
	}
	f := courrierForm{Received: r.PostFormValue("received"), Postmark: r.PostFormValue("postmark"),
		Registered: r.PostFormValue("registered"), SenderName: r.PostFormValue("sender_name"),
		SenderAddress: r.PostFormValue("sender_address")}
	receipt, status, msg := s.submitLetter(r, sess, site, f, r.MultipartForm)
	if msg != "" {
		writeJSONError(w, status, errorCode(status), msg)
		return
	}
	writeJSON(w, http.StatusCreated, receipt)
}
