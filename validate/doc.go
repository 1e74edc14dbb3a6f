// Package validate owns the checks: each document is what it claims to be
// and carries no active content; the art. 4 evidence (prefecture invitations
// issued by recevable, CCC attestations) is found, verified, and turned into a
// proposed decision with its reasons.
//
// arrêté 2023-08-01 art. 4: the pipeline proposes, staff decide. Nothing here
// refuses a dossier; it proposes irrecevable_propose at most, with reasons.
package validate
