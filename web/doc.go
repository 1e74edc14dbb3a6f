// Package web serves the staff and mailroom interface (in French), the JSON
// API under /api/ (docs/api.md), and the operators' metrics and health
// endpoints on their own listener (ops.go). It reads and writes dossiers
// only through storage, with the manifest's ETag guarding every state
// change; it keeps no state another replica needs.
//
// Where to look:
//
//   - routes.go: every route, page and API, with the roles it admits — the
//     only place; middleware.go runs the guard (session, role, CSRF, body
//     limit) and sets the security headers.
//   - auth.go (roles, principals), accounts.go (local accounts, argon2id),
//     session.go (sessions in the bucket), csrf.go, login.go,
//     login_limit.go, oidc.go (single sign-on).
//   - queue_index.go, queue_query.go, queue_summary.go: the in-memory index
//     that keeps the queue page fast with 50,000 dossiers, a cache of the
//     bucket's queue markers.
//   - dossier_*.go: the queue page, the dossier page, the review workflow
//     and its actions; document_show.go serves documents under a sandbox.
//   - quarantine_list.go, courrier_upload.go, invitation_*.go, audit*.go:
//     the other pages; api_*.go: the JSON API over the same code.
//   - templates/ and static/: the pages and their CSS and script, embedded.
//
// It does not parse submissions, decide admissibility or run the pipeline:
// it calls the Reprocessor and MailroomIntake interfaces that cmd wires to
// the workers, and validate for invitations.
package web
