package bench

import (
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"recevable/intake/imaptest"
)

// The IMAP side of the harness: loading the mailbox, the raw fetch that is
// the source's physical limit, and the folder count that tells when the
// pipeline has acknowledged everything.

// appendFiles APPENDs each file to INBOX on one connection and returns the
// bytes appended.
func appendFiles(t testing.TB, srv *imaptest.Server, files []string) int64 {
	t.Helper()
	c := srv.Dial(t)
	defer c.Logout()
	var total int64
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := imaptest.AppendWith(c, "INBOX", raw); err != nil {
			t.Fatalf("append message %d: %v", i, err)
		}
		total += int64(len(raw))
	}
	return total
}

// rawFetchAll reads every body of INBOX with one FETCH 1:* BODY.PEEK[]
// streamed to io.Discard, on a mailbox opened read-only (EXAMINE): as fast
// as Dovecot can serve and the client can read, nothing stored, nothing
// changed. It returns the messages and bytes read.
func rawFetchAll(t testing.TB, srv *imaptest.Server) (int, int64) {
	t.Helper()
	c := srv.Dial(t)
	defer c.Logout()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("examine INBOX: %v", err)
	}
	if sel.NumMessages == 0 {
		t.Fatal("raw fetch: INBOX is empty")
	}
	cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	n, total, err := drainFetch(cmd)
	if err != nil {
		t.Fatalf("raw fetch: %v", err)
	}
	return n, total
}

// rawFetchEach reads the same bodies with one UID FETCH per message, as the
// pipeline's source does (it spools each message before taking the next):
// the cost of a round trip per message, shown beside the streamed fetch.
func rawFetchEach(t testing.TB, srv *imaptest.Server) (int, int64) {
	t.Helper()
	c := srv.Dial(t)
	defer c.Logout()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("examine INBOX: %v", err)
	}
	uids, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatalf("uid search: %v", err)
	}
	var n int
	var total int64
	for _, uid := range uids.AllUIDs() {
		cmd := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
			UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		})
		k, b, err := drainFetch(cmd)
		if err != nil {
			t.Fatalf("uid fetch %d: %v", uid, err)
		}
		n, total = n+k, total+b
	}
	return n, total
}

// drainFetch reads the body literals of a FETCH into io.Discard.
func drainFetch(cmd *imapclient.FetchCommand) (int, int64, error) {
	var n int
	var total int64
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for it := msg.Next(); it != nil; it = msg.Next() {
			body, ok := it.(imapclient.FetchItemDataBodySection)
			if !ok || body.Literal == nil {
				continue
			}
			k, err := io.Copy(io.Discard, body.Literal)
			if err != nil {
				cmd.Close()
				return n, total, fmt.Errorf("read literal: %w", err)
			}
			n, total = n+1, total+k
		}
	}
	return n, total, cmd.Close()
}

// inboxCount returns the number of messages in INBOX (STATUS MESSAGES).
func inboxCount(c *imapclient.Client) (int, error) {
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return 0, fmt.Errorf("status INBOX: %w", err)
	}
	if st.NumMessages == nil {
		return 0, fmt.Errorf("status INBOX: no MESSAGES in the answer")
	}
	return int(*st.NumMessages), nil
}
