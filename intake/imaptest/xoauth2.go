package imaptest

import (
	"bytes"
	"errors"
	"strings"
)

// xoauth2Server is the server side of Google's XOAUTH2 SASL mechanism
// (https://developers.google.com/gmail/imap/xoauth2-protocol), written from
// the specification independently of the client under test. The initial
// client response is
//
//	"user=" {User} "\x01auth=Bearer " {Token} "\x01\x01"
//
// On failure the server sends a JSON error as a challenge, waits for the
// client's (empty) answer, then fails the command.
type xoauth2Server struct {
	check  func(user, token string) error
	failed bool
}

var errXOAuth2 = errors.New("imaptest: XOAUTH2 authentication failed")

func (s *xoauth2Server) Next(response []byte) (challenge []byte, done bool, err error) {
	if s.failed {
		return nil, true, errXOAuth2
	}
	if response == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	user, token, ok := parseXOAuth2(response)
	if !ok || s.check(user, token) != nil {
		s.failed = true
		return []byte(`{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}`), false, nil
	}
	return nil, true, nil
}

func parseXOAuth2(b []byte) (user, token string, ok bool) {
	if !bytes.HasSuffix(b, []byte("\x01\x01")) {
		return "", "", false
	}
	fields := strings.Split(string(b[:len(b)-2]), "\x01")
	if len(fields) != 2 || !strings.HasPrefix(fields[0], "user=") || !strings.HasPrefix(fields[1], "auth=Bearer ") {
		return "", "", false
	}
	return strings.TrimPrefix(fields[0], "user="), strings.TrimPrefix(fields[1], "auth=Bearer "), true
}
