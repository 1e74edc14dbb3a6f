package workers

import (
	"fmt"

	"recevable/intake"
	"recevable/storage"
)

// IMAPSource describes one IMAP folder as a Source of the pipeline, for site
// (channel email): each lease opens a fresh intake.IMAPSource with opts and
// its cursor kept in the bucket (state/cursors/<source>), so that the
// replica taking over reads where the last one stopped. The options are
// checked now.
func IMAPSource(opts intake.IMAPOptions, b storage.Bucket, site string) (Source, error) {
	cursors := intake.BucketCursors{Cursors: storage.Cursors{Bucket: b}}
	probe, err := intake.NewIMAP(opts, cursors)
	if err != nil {
		return Source{}, fmt.Errorf("imap source: %w", err)
	}
	id := probe.ID()
	probe.Close() // never connected: closing writes nothing
	return Source{
		ID:      id,
		Site:    site,
		Channel: storage.ChannelEmail,
		Open: func() (intake.Source, error) {
			return intake.NewIMAP(opts, cursors)
		},
	}, nil
}
