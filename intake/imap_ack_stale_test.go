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
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			appendN(t, srv, 1)
			cursors := newMemCursors()
			s := newSource(t, testOptions(t, srv), cursors)
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
			checkFolder(t, srv, "INBOX")
			checkFolder(t, srv, DefaultIMAPProcessedFolder, append([][]byte{msg(1)}, raws...)...)
		})
	}
}
