package intake

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// ack is the Ack of an IMAP item. It must be called only once the raw bytes
// are stored (DESIGN.md, "Raw first"). Processed moves the message to
// ProcessedFolder (or sets Keyword), Quarantined to QuarantineFolder (or
// sets QuarantineKeyword); then the cursor advances. Never a plain delete:
// the message always survives in some folder of the account.
//
// An error means the message is still in the folder as it was (or, at
// worst, also copied to the target folder): it is offered again later and
// the pipeline deduplicates it. Acking twice is harmless.
func (s *IMAPSource) ack(ctx context.Context, fl *imapFlight, d Disposition) error {
	if d != Processed && d != Quarantined {
		return fmt.Errorf("imap ack uid %d: unknown disposition %v", fl.uid, d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.poke() // the ack ended any IDLE: let Next look again
	if fl.acked {
		return nil
	}
	if cur, ok := s.book.inflight[fl.uid]; (ok && cur != fl) || fl.validity != s.book.cursor.UIDValidity {
		return fmt.Errorf("imap ack uid %d: taken under UIDVALIDITY %d, now %d: %w", fl.uid, fl.validity, s.book.cursor.UIDValidity, ErrUIDValidityChanged)
	}
	conn, err := s.connLocked(ctx)
	if err != nil {
		return fmt.Errorf("imap ack uid %d: %w", fl.uid, err)
	}
	if err := s.selectLocked(ctx, conn); err != nil {
		if conn.broken {
			s.dropLocked(err)
		}
		return fmt.Errorf("imap ack uid %d: %w", fl.uid, err)
	}
	if conn.validity != fl.validity {
		return fmt.Errorf("imap ack uid %d: taken under UIDVALIDITY %d, folder now %d: %w", fl.uid, fl.validity, conn.validity, ErrUIDValidityChanged)
	}
	if err := s.postActionLocked(ctx, conn, fl.uid, d); err != nil {
		if conn.broken {
			s.dropLocked(err)
		}
		return fmt.Errorf("imap ack uid %d (%v): %w", fl.uid, d, err)
	}
	fl.acked = true
	s.book.done(fl.uid)
	s.persistLocked(ctx)
	s.log.Info().Uint32("uid", uint32(fl.uid)).Uint32("uidvalidity", fl.validity).Str("disposition", d.String()).Msg("imap: message acked")
	return nil
}

func (s *IMAPSource) postActionLocked(ctx context.Context, conn *imapConn, uid imap.UID, d Disposition) error {
	kw := imap.Flag(s.opts.Keyword)
	folder := s.opts.ProcessedFolder
	if d == Quarantined {
		kw = imap.Flag(s.opts.QuarantineKeyword)
		folder = s.opts.QuarantineFolder
	}
	if s.opts.PostAction == PostActionKeyword {
		return s.storeLocked(ctx, conn, uid, kw)
	}
	if err := s.ensureFolderLocked(ctx, conn, folder); err != nil {
		return err
	}
	return s.moveLocked(ctx, conn, uid, folder, kw)
}

// storeLocked adds flags to one message (UID STORE +FLAGS.SILENT).
func (s *IMAPSource) storeLocked(ctx context.Context, conn *imapConn, uid imap.UID, flags ...imap.Flag) error {
	return conn.await(ctx, fmt.Sprintf("UID STORE %d +FLAGS", uid), s.opts.CommandTimeout, func() error {
		return conn.c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Silent: true, Flags: flags,
		}, nil).Close()
	})
}

// moveLocked moves one message to folder. With MOVE (RFC 6851) it is one
// atomic command. Without it: UID COPY, and only if the copy is confirmed,
// \Deleted (plus the done keyword) and UID EXPUNGE of that UID alone
// (UIDPLUS, RFC 4315). Without UIDPLUS a plain EXPUNGE would also remove
// messages others marked \Deleted, so we leave ours flagged \Deleted and
// with the keyword (which keeps it out of our searches) for the mail
// client's next expunge.
//
// imapclient.Move is never used without MOVE: its fallback runs COPY,
// STORE \Deleted and EXPUNGE pipelined, so a failed COPY still deletes the
// message.
func (s *IMAPSource) moveLocked(ctx context.Context, conn *imapConn, uid imap.UID, folder string, kw imap.Flag) error {
	uids := imap.UIDSetNum(uid)
	to := s.opts.CommandTimeout
	if conn.caps.Has(imap.CapMove) {
		return conn.await(ctx, fmt.Sprintf("UID MOVE %d", uid), to, func() error {
			_, err := conn.c.Move(uids, folder).Wait()
			return err
		})
	}

	var data *imap.CopyData
	err := conn.await(ctx, fmt.Sprintf("UID COPY %d", uid), to, func() error {
		var err error
		data, err = conn.c.Copy(uids, folder).Wait()
		return err
	})
	if err != nil {
		return err // the message is untouched
	}
	uidplus := conn.caps.Has(imap.CapUIDPlus)
	if uidplus && (data == nil || !data.SourceUIDs.Contains(uid)) {
		// COPYUID does not list it: nothing was copied (the message went
		// away meanwhile, or the server misbehaves). Do not delete.
		return fmt.Errorf("UID COPY %d: not confirmed by COPYUID", uid)
	}
	flags := []imap.Flag{imap.FlagDeleted}
	if conn.keywords {
		flags = append(flags, kw)
	}
	if err := s.storeLocked(ctx, conn, uid, flags...); err != nil {
		return err
	}
	if !uidplus {
		s.log.Warn().Uint32("uid", uint32(uid)).Msg("imap: server has neither MOVE nor UIDPLUS: message copied and marked \\Deleted, left for the mail client to expunge")
		return nil
	}
	return conn.await(ctx, fmt.Sprintf("UID EXPUNGE %d", uid), to, func() error {
		return conn.c.UIDExpunge(uids).Close()
	})
}

// ensureFolderLocked creates folder if it does not exist (and subscribes to
// it, so that staff's mail clients show it).
func (s *IMAPSource) ensureFolderLocked(ctx context.Context, conn *imapConn, folder string) error {
	if conn.folders[folder] {
		return nil
	}
	exists, err := s.folderExistsLocked(ctx, conn, folder)
	if err != nil {
		return err
	}
	if !exists {
		cerr := conn.await(ctx, "CREATE", s.opts.CommandTimeout, func() error {
			return conn.c.Create(folder, nil).Wait()
		})
		if cerr != nil {
			// Perhaps created by someone else meanwhile ([ALREADYEXISTS] is
			// not sent by every server): look again.
			if conn.broken {
				return cerr
			}
			if exists, err := s.folderExistsLocked(ctx, conn, folder); err != nil || !exists {
				return fmt.Errorf("create folder %q: %w", folder, cerr)
			}
		} else {
			s.log.Info().Str("mailbox", folder).Msg("imap: folder created")
			conn.await(ctx, "SUBSCRIBE", s.opts.CommandTimeout, func() error {
				return conn.c.Subscribe(folder).Wait()
			})
			if conn.broken {
				return errors.New("SUBSCRIBE broke the connection")
			}
		}
	}
	conn.folders[folder] = true
	return nil
}

// folderExistsLocked asks LIST for exactly folder, selectable.
func (s *IMAPSource) folderExistsLocked(ctx context.Context, conn *imapConn, folder string) (bool, error) {
	var found bool
	err := conn.await(ctx, "LIST", s.opts.CommandTimeout, func() error {
		list, err := conn.c.List("", folder, nil).Collect()
		for _, l := range list {
			if !sameMailbox(l.Mailbox, folder) {
				continue // a % or * in the name matched others
			}
			found = true
			for _, a := range l.Attrs {
				if a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent {
					found = false
				}
			}
		}
		return err
	})
	return found, err
}

// sameMailbox compares names, INBOX being case-insensitive (RFC 9051 §5.1).
func sameMailbox(a, b string) bool {
	if strings.EqualFold(a, "INBOX") || strings.EqualFold(b, "INBOX") {
		return strings.EqualFold(a, b)
	}
	return a == b
}
