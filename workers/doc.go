// Package workers supervises the pipeline: the pollers of each source, the
// bounded processing pool, retries with capped backoff, leases that let one
// replica at a time poll a source, quarantine of permanent failures, crash
// recovery, and the shutdown order (stop polling, finish in-flight items,
// flush acks, release leases).
//
// It does not parse (intake), judge (validate) or lay out keys (storage); it
// calls them in order and makes the order safe to repeat.
//
// # The steps of one item
//
// Each step is idempotent and keyed by the raw SHA-256, so that running the
// whole list again after a crash anywhere yields each dossier exactly once,
// with the same registration number:
//
//  1. Next          the source spools the item (intake)
//  2. SHA-256       of the spooled bytes                      stage fetch
//  3. raw stored    raw/<sha> IfAbsent, with the source        stage store_raw
//     coordinates, site and channel as metadata
//     ── from here a crash is recoverable from raw/ ──
//  4. done?         index/done/<sha> exists: a replay, acknowledge only;
//     skipped, with the other "done before?" reads of steps 8, 10
//     and 11, on the first attempt of an item whose raw/<sha> this
//     call created (RawMeta.Created: nothing can exist for it yet)
//  5. parse         intake.Walk, parts spooled to disk;        stage parse
//     over a limit → quarantine, limit named;
//     more than MaxDocuments → quarantine
//  6. Message-ID    indexed per site; a copy with the same From is a
//     duplicate (no dossier, link recorded), see dedup.go
//  7. documents     validate.CheckDocument: problems flag      stage validate
//     the document, never sink the dossier
//  8. number        Counter.Reserve(site, year of receipt in the site's
//     time zone, sha, 0): bound to the sha, no gap; reservations
//     of one counter are serialised in the process (storage.NewCounter)
//  9. assess        Assessor.Assess(Submission{Dossier: n})    stage verify
//  10. documents     PutDocument each (verified, IfAbsent; a replay
//     looks for each first)                                  stage write_dossier
//  11. manifest      Dossiers.Create: queue marker, then the manifest,
//     IfAbsent — the commit
//  12. done          index/done/<sha>
//  13. ack           Ack(Processed) at the source (message moved; the
//     IMAP source sends the acks of concurrent workers as one command)
//
// Two choices differ from the plain "ack once the raw is stored" of
// DESIGN.md. The source is acknowledged after step 12 (or after the
// quarantine entry is written), not after step 3, so that the
// acknowledgment can say which folder the message goes to (processed or
// quarantine). Nothing is lost by waiting: if the process dies between
// "raw stored" and "ack", the message is still at its source, the restart
// takes it again, finds raw/ (and, past step 12, the done marker) already
// there and finishes or simply acknowledges — exactly once. And the number
// (step 8) is reserved before the evidence search (step 9), because
// consuming an invitation records the dossier number; a number reserved
// for an item that then ends in quarantine stays bound to it (never reused,
// never skipped) and is the one it gets when reprocessed.
//
// # Failures
//
// A permanent error (intake.PermanentError: over a limit, parser bug; or a
// recovered panic, wrapped with the raw sha) sends the item to quarantine at
// once: quarantine/<sha>.json with the reason and the limit, raw kept,
// source acknowledged Quarantined. Anything else is temporary and retried
// with capped exponential backoff and jitter (RetryPolicy) until the budget
// is spent, then quarantined with the limit "retry_budget". Storing the raw
// bytes is retried too, but an item whose bytes could not be stored is
// never acknowledged: it stays at its source. An item too large to be
// downloaded has no raw bytes; its entry is keyed by its coordinates and
// the message stays in the source's quarantine folder.
//
// A raw object with no done marker and no quarantine entry is an item whose
// processing stopped half-way; the recovery scan (recover.go) finds and
// finishes them at start and every RecoverEvery.
package workers
