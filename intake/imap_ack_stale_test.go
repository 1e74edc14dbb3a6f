package intake

import (
	"testing"

	"recevable/intake/imaptest"
)

// TestIMAPAckNewArrival: the ack connection selects the folder when it is
// opened, and messages arrive afterwards. Their acks must move them: a
// server that answers OK to a UID it has not shown that session yet (an
// empty UID set, RFC 3501 §6.4.8) has moved nothing, and the message must
// not count as acknowledged.
func TestIMAPAckNewArrival(t *testing.T) {
	for _, sv := range servers() {
		for _, action := range []IMAPPostAction{PostActionMove, PostActionKeyword} {
			t.Run(sv.name+"/"+string(action), func(t *testing.T) {
				srv := sv.start(t)
				appendN(t, srv, 1)
				cursors := newMemCursors()
				o := testOptions(t, srv)
				o.PostAction = action
				s := newSource(t, o, cursors)
				first := next(t, s)
				ack(t, first, Processed) // opens the ack connection

				c := srv.Dial(t)
				var raws [][]byte
				for i := 2; i <= 4; i++ {
					if _, err := imaptest.AppendWith(c, "INBOX", msg(i)); err != nil {
						t.Fatalf("append %d: %v", i, err)
					}
					raws = append(raws, msg(i))
				}
				for range 3 {
					ack(t, next(t, s), Processed)
				}
				if action == PostActionMove {
					checkFolder(t, srv, "INBOX")
					checkFolder(t, srv, DefaultIMAPProcessedFolder, append([][]byte{msg(1)}, raws...)...)
					return
				}
				inbox, _ := srv.Look(t, "INBOX")
				for _, m := range inbox.Messages {
					if !m.HasFlag(DefaultIMAPKeyword) {
						t.Errorf("uid %d flags %v, want %s", m.UID, m.Flags, DefaultIMAPKeyword)
					}
				}
				if len(inbox.Messages) != 4 {
					t.Errorf("INBOX has %d messages, want 4", len(inbox.Messages))
				}
			})
		}
	}
}
