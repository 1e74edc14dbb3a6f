package intake

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// postActionLocked acks the messages uids of one disposition with one
// command (or, without MOVE, one command per step): it returns the UIDs
// done, and for the others (all of them when the command failed) the
// error.
func (s *IMAPSource) postActionLocked(ctx context.Context, conn *imapConn, uids []imap.UID, d Disposition) (done imap.UIDSet, err error) {
	kw := imap.Flag(s.opts.Keyword)
	folder := s.opts.ProcessedFolder
	if d == Quarantined {
		kw = imap.Flag(s.opts.QuarantineKeyword)
		folder = s.opts.QuarantineFolder
	}
	set := imap.UIDSetNum(uids...)
	if s.opts.PostAction == PostActionKeyword {
		if err := s.storeLocked(ctx, conn, set, kw); err != nil {
			return nil, err
		}
		return set, nil
	}
	if err := s.ensureFolderLocked(ctx, conn, folder); err != nil {
		return nil, err
	}
	return s.moveLocked(ctx, conn, uids, folder, kw)
}

// storeLocked adds flags to the messages uids (UID STORE +FLAGS.SILENT).
func (s *IMAPSource) storeLocked(ctx context.Context, conn *imapConn, uids imap.UIDSet, flags ...imap.Flag) error {
	return conn.await(ctx, fmt.Sprintf("UID STORE %v +FLAGS", uids), s.opts.CommandTimeout, func() error {
		return conn.c.Store(uids, &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Silent: true, Flags: flags,
		}, nil).Close()
	})
}

// moveLocked moves the messages uids to folder. With MOVE (RFC 6851) it is
// one atomic command. Without it: UID COPY, and only for the UIDs whose
// copy is confirmed, \Deleted (plus the done keyword) and UID EXPUNGE of
// those UIDs alone (UIDPLUS, RFC 4315). Without UIDPLUS a plain EXPUNGE
// would also remove messages others marked \Deleted, so we leave ours
// flagged \Deleted and with the keyword (which keeps them out of our
// searches) for the mail client's next expunge.
//
// imapclient.Move is never used without MOVE: its fallback runs COPY,
// STORE \Deleted and EXPUNGE pipelined, so a failed COPY still deletes the
// messages.
func (s *IMAPSource) moveLocked(ctx context.Context, conn *imapConn, uids []imap.UID, folder string, kw imap.Flag) (imap.UIDSet, error) {
	set := imap.UIDSetNum(uids...)
	to := s.opts.CommandTimeout
	if conn.caps.Has(imap.CapMove) {
		// A UID of the set no longer in the folder (expunged by someone
		// else) is skipped by the server: it is gone, as far as the cursor
		// is concerned. So is a UID the session has not seen yet, which
		// is why the ack connection syncs its view first (syncViewLocked).
		err := conn.await(ctx, fmt.Sprintf("UID MOVE %v", set), to, func() error {
			_, err := conn.c.Move(set, folder).Wait()
			return err
		})
		if err != nil {
			return nil, err
		}
		return set, nil
	}

	var data *imap.CopyData
	err := conn.await(ctx, fmt.Sprintf("UID COPY %v", set), to, func() error {
		var err error
		data, err = conn.c.Copy(set, folder).Wait()
		return err
	})
	if err != nil {
		return nil, err // the messages are untouched
	}
	uidplus := conn.caps.Has(imap.CapUIDPlus)
	copied := set
	var unconfirmed error
	if uidplus {
		// COPYUID lists what was copied. A UID it leaves out was not (the
		// message went away meanwhile, or the server misbehaves): do not
		// delete it.
		var confirmed []imap.UID
		for _, uid := range uids {
			if data != nil && data.SourceUIDs.Contains(uid) {
				confirmed = append(confirmed, uid)
			}
		}
		if len(confirmed) < len(uids) {
			unconfirmed = fmt.Errorf("UID COPY %v: not confirmed by COPYUID", set)
		}
		if len(confirmed) == 0 {
			return nil, unconfirmed
		}
		copied = imap.UIDSetNum(confirmed...)
	}
	flags := []imap.Flag{imap.FlagDeleted}
	if conn.keywords {
		flags = append(flags, kw)
	}
	if err := s.storeLocked(ctx, conn, copied, flags...); err != nil {
		return nil, err
	}
	if !uidplus {
		s.log.Warn().Str("uids", copied.String()).Msg("imap: server has neither MOVE nor UIDPLUS: messages copied and marked \\Deleted, left for the mail client to expunge")
		return copied, nil
	}
	err = conn.await(ctx, fmt.Sprintf("UID EXPUNGE %v", copied), to, func() error {
		return conn.c.UIDExpunge(copied).Close()
	})
	if err != nil {
		return nil, err
	}
	return copied, unconfirmed
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
