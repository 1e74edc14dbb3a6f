package validate

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"regexp"
)

// Word processor documents: applicants often write their covering letter in
// Word or LibreOffice, and may copy the CCC's answer or the invitation
// reference into it. Their text is in one XML member of a zip (word/
// document.xml, content.xml); taking the tags out is enough to search it.
// Anything else in the zip (embedded images, macros) is not looked at.

// officeText maps the media types read here to the XML member holding the
// text.
var officeText = map[string]string{
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": "word/document.xml",
	"application/vnd.oasis.opendocument.text":                                 "content.xml",
}

// maxOfficeXML bounds the decompressed XML read: a zip bomb stops there.
const maxOfficeXML = 16 << 20

var (
	officeParaEnd = regexp.MustCompile(`</(w:p|text:p|text:h)>|<(w:br|w:tab|text:line-break|text:tab)\b[^>]*/?>`)
	// Runs of a word are split across tags ("INV-75-</w:t></w:r><w:r><w:t>2026"):
	// tags are removed without a space, paragraph ends become line breaks.
	officeTag = regexp.MustCompile(`<[^>]*>`)
)

// extractOfficeText returns the text of a .docx or .odt document.
func extractOfficeText(ctx context.Context, data []byte, lim Limits) (string, error) {
	lim = lim.withDefaults()
	return Guard(ctx, "office_text", lim.ParserTimeout, func(context.Context) (string, error) {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return "", fmt.Errorf("office document: %w", err)
		}
		var member *zip.File
		for _, f := range zr.File {
			if f.Name == "word/document.xml" || f.Name == "content.xml" {
				member = f
				break
			}
		}
		if member == nil {
			return "", errors.New("office document: no text member")
		}
		rc, err := member.Open()
		if err != nil {
			return "", fmt.Errorf("office document: %w", err)
		}
		defer rc.Close()
		xml, err := io.ReadAll(io.LimitReader(rc, maxOfficeXML))
		if err != nil {
			return "", fmt.Errorf("office document: %w", err)
		}
		s := officeParaEnd.ReplaceAllString(string(xml), "\n")
		s = officeTag.ReplaceAllString(s, "")
		// XML's five entities and numeric references are a subset of HTML's.
		return html.UnescapeString(s), nil
	})
}
