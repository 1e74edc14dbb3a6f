package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"io"
	"os"

	"recevable/intake"
	"recevable/validate"
)

// maxSeparatorSheets bounds --count: a ream is 500 sheets.
const maxSeparatorSheets = 500

// runSeparator prints separator sheets for the mailroom's batch scans:
// recevable separator [--count N] [--postmark YYYY-MM-DD] [--received
// YYYY-MM-DD] [--ar NUMBER] [-o FILE]. Each sheet carries a large QR code
// (payload in intake/batch_separator.go) and "SÉPARATEUR — recevable"; the
// split drops it and starts a new letter after it. With --postmark,
// --received or --ar the sheets also carry that letter's postal data, for
// a mailroom that prints one sheet per letter.
func runSeparator(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("separator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 1, "number of sheets")
	postmark := fs.String("postmark", "", "postmark date of the letter that follows, YYYY-MM-DD (CRPA L112-1)")
	received := fs.String("received", "", "date the mailroom received the letter, YYYY-MM-DD")
	ar := fs.String("ar", "", "number of the registered letter (lettre recommandée avec AR)")
	out := fs.String("o", "-", "output PDF file, - for standard output")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: recevable separator [--count N] [--postmark YYYY-MM-DD] [--received YYYY-MM-DD] [--ar NUMBER] [-o FILE]")
		fmt.Fprintln(stderr, "\nWrites a PDF of separator sheets to put between the letters of a batch scan.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *count < 1 || *count > maxSeparatorSheets {
		fmt.Fprintf(stderr, "recevable separator: --count %d: want 1 to %d\n", *count, maxSeparatorSheets)
		return 2
	}
	var sep intake.Separator
	var err error
	if *postmark != "" {
		if sep.Postmark, err = intake.ParseDate(*postmark); err != nil {
			fmt.Fprintf(stderr, "recevable separator: --postmark: %v\n", err)
			return 2
		}
	}
	if *received != "" {
		if sep.Received, err = intake.ParseDate(*received); err != nil {
			fmt.Fprintf(stderr, "recevable separator: --received: %v\n", err)
			return 2
		}
	}
	if *ar != "" {
		if sep.Registered, err = intake.NormalizeRegistered(*ar); err != nil {
			fmt.Fprintf(stderr, "recevable separator: --ar: %v\n", err)
			return 2
		}
	}
	sheets := make([]intake.Separator, *count)
	for i := range sheets {
		sheets[i] = sep
	}
	var pdf bytes.Buffer
	encode := func(payload string) (image.Image, error) { return validate.EncodeQR(payload) }
	if err := intake.WriteSeparatorSheets(&pdf, sheets, encode); err != nil {
		fmt.Fprintf(stderr, "recevable separator: %v\n", err)
		return 1
	}
	if *out == "-" {
		_, err = stdout.Write(pdf.Bytes())
	} else {
		err = os.WriteFile(*out, pdf.Bytes(), 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "recevable separator: %v\n", err)
		return 1
	}
	return 0
}
