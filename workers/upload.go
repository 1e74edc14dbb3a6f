package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"recevable/intake"
	"recevable/storage"
)

// Upload is one letter the mailroom uploads through the staff interface:
// its scan (one PDF or image, or the images of its pages) and what the clerk
// recorded from the envelope.
type Upload struct {
	Site  string
	Files []UploadFile
	// Postal: the postmark (CRPA L112-1), the day of receipt and the number
	// of a registered letter, as recorded; what is nil or empty was not.
	Postal storage.Postal
	Sender storage.Party
	// UploadedBy is the clerk's account id, kept in the item's coordinates.
	UploadedBy string
}

// UploadFile is one uploaded file; Open may be called more than once.
type UploadFile struct {
	Name string
	Size int64
	Open func() (io.ReadCloser, error)
}

// UploadSource is the source id of uploaded letters.
const UploadSource = "upload:courrier"

// CoordUploadedBy holds the clerk's account id in an upload's coordinates.
const CoordUploadedBy = "uploaded_by"

// ErrUpload: the upload cannot be taken as it is (no file, several files
// that are not all images, postal data out of bounds); nothing was stored.
var ErrUpload = errors.New("upload refused")

// Upload registers an uploaded letter through the postal channel, in the
// caller's goroutine: the files become one scan (images are assembled into
// a PDF, their bytes untouched), stored raw, then processed like a letter
// of the scan drop — one dossier, whose number Result.Numbers[0] gives at
// once. The postal data travel as the scan's sidecar (intake.Sidecar), so
// that a replay after a crash finds them with the raw item.
func (p *Pipeline) Upload(ctx context.Context, u Upload) (Result, error) {
	if _, ok := p.sites[u.Site]; !ok {
		return Result{}, fmt.Errorf("%w: unknown site %q", ErrUpload, u.Site)
	}
	if len(u.Files) == 0 {
		return Result{}, fmt.Errorf("%w: no file", ErrUpload)
	}
	sidecar, err := uploadSidecar(u)
	if err != nil {
		return Result{}, err
	}
	dir, err := os.MkdirTemp(p.o.SpoolDir, "recevable-upload-*")
	if err != nil {
		return Result{}, fmt.Errorf("upload: spool: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "scan")
	if err := p.assembleUpload(ctx, u.Files, path); err != nil {
		return Result{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return Result{}, fmt.Errorf("upload: %w", err)
	}
	coords := map[string]string{intake.CoordName: u.Files[0].Name, CoordUploadedBy: u.UploadedBy, intake.CoordSidecar: sidecar}
	item := intake.Item{
		Source: UploadSource, Coordinates: coords, ReceivedAt: p.o.Now(), Size: st.Size(),
		Open:    func() (io.ReadCloser, error) { return os.Open(path) },
		Release: func() {},
	}
	return p.Handle(ctx, u.Site, storage.ChannelPostal, item, nil)
}

// assembleUpload writes the scan of an upload to path: a single file as it
// is, several images assembled into one PDF.
func (p *Pipeline) assembleUpload(ctx context.Context, files []UploadFile, path string) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("upload: spool: %w", err)
	}
	defer out.Close()
	if len(files) == 1 {
		rc, err := files[0].Open()
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		defer rc.Close()
		if _, err := io.Copy(out, rc); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		return out.Close()
	}
	images := make([][]byte, 0, len(files))
	for i, f := range files {
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		switch intake.Sniff(b) {
		case "image/jpeg", "image/png", "image/tiff":
		default:
			return fmt.Errorf("%w: file %d is not an image; several files must all be images of the pages", ErrUpload, i+1)
		}
		images = append(images, b)
	}
	if err := intake.AssembleImages(ctx, out, images, p.o.ScanLimits); err != nil {
		if intake.IsPermanent(err) {
			return fmt.Errorf("%w: %w", ErrUpload, err)
		}
		return fmt.Errorf("upload: %w", err)
	}
	return out.Close()
}

// uploadSidecar encodes the clerk's postal data as a sidecar, checked as a
// sidecar file would be.
func uploadSidecar(u Upload) (string, error) {
	var f intake.PostalFields
	day := func(t *time.Time) intake.Date {
		if t == nil {
			return intake.Date{}
		}
		return intake.DateOf(*t)
	}
	f.Postmark, f.Received, f.Registered = day(u.Postal.Postmark), day(u.Postal.Received), u.Postal.Registered
	if u.Sender.Name != "" || u.Sender.Address != "" {
		f.Sender = &intake.SidecarSender{Name: u.Sender.Name, Address: u.Sender.Address}
	}
	b, err := json.Marshal(intake.Sidecar{PostalFields: f})
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	sc, err := intake.ParseSidecar(b)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUpload, err)
	}
	return sc.Encode(), nil
}
