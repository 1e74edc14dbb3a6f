package intake

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
)

// XOAuth2 is the name of the XOAUTH2 SASL mechanism, which Gmail and
// Microsoft 365 use for OAuth 2.0 bearer tokens. go-sasl has OAUTHBEARER
// (RFC 7628) but not this older, unregistered sibling.
const XOAuth2 = "XOAUTH2"

// XOAuth2Error is the JSON error a server sends back as a SASL challenge
// when it rejects the token, e.g. {"status":"401","schemes":"Bearer",...}.
type XOAuth2Error struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

func (e *XOAuth2Error) Error() string {
	return fmt.Sprintf("XOAUTH2 rejected: status %q", e.Status)
}

type xoauth2Client struct {
	username, token string
}

// NewXOAuth2Client returns a SASL client for XOAUTH2. The initial response
// is, per https://developers.google.com/gmail/imap/xoauth2-protocol:
//
//	"user=" {username} "\x01auth=Bearer " {token} "\x01\x01"
//
// (base64-encoded by the IMAP layer). If the server answers with a
// challenge, it is its JSON error: Next returns it as an *XOAuth2Error and
// the caller abandons the connection.
func NewXOAuth2Client(username, token string) sasl.Client {
	return &xoauth2Client{username: username, token: token}
}

func (c *xoauth2Client) Start() (mech string, ir []byte, err error) {
	// \x01 separates the fields: one inside a value would forge a field.
	if strings.ContainsAny(c.username, "\x01") || strings.ContainsAny(c.token, "\x01") {
		return "", nil, errors.New("xoauth2: control character in username or token")
	}
	return XOAuth2, []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	var e XOAuth2Error
	if err := json.Unmarshal(challenge, &e); err != nil {
		return nil, fmt.Errorf("xoauth2: unexpected challenge (%d bytes)", len(challenge))
	}
	return nil, &e
}
