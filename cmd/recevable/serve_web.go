package main

import (
	"context"
	"errors"

	"recevable/intake"
	"recevable/web"
	"recevable/workers"
)

// The pipeline as the staff interface sees it: web defines the interfaces
// (web.Reprocessor, web.MailroomIntake), workers the operations; these
// adapters join them, for whoever builds web.Options (the Web hook of serve,
// demo).

// pipelineReprocessor is the web.Reprocessor of a pipeline: the work is
// queued (workers.Pipeline.ReprocessLater) so that the agent's own update
// of the dossier goes first.
type pipelineReprocessor struct{ p *workers.Pipeline }

var _ web.Reprocessor = pipelineReprocessor{}

func (r pipelineReprocessor) Reprocess(ctx context.Context, rawSHA string) error {
	return r.p.ReprocessLater(ctx, rawSHA)
}

// pipelineMailroom is the web.MailroomIntake of a pipeline: an uploaded
// letter is registered at once (workers.Pipeline.Upload), so that the
// clerk writes its number on it.
type pipelineMailroom struct{ p *workers.Pipeline }

var _ web.MailroomIntake = pipelineMailroom{}

func (m pipelineMailroom) Submit(ctx context.Context, sub web.MailroomSubmission) (web.MailroomReceipt, error) {
	u := workers.Upload{Site: sub.Site, Postal: sub.Postal, Sender: sub.Sender, UploadedBy: sub.UploadedBy}
	for _, f := range sub.Files {
		u.Files = append(u.Files, workers.UploadFile{Name: f.Name, Size: f.Size, Open: f.Open})
	}
	res, err := m.p.Upload(ctx, u)
	switch {
	case errors.Is(err, workers.ErrUpload):
		// web shows a permanent error to the clerk as a refusal to fix.
		return web.MailroomReceipt{}, intake.Permanent(err)
	case err != nil:
		return web.MailroomReceipt{}, err
	}
	// A letter stored but put in quarantine (an unreadable scan) has no
	// number yet: supervisors see it in the quarantine list.
	r := web.MailroomReceipt{Raw: res.Raw}
	if len(res.Numbers) > 0 {
		r.Number = res.Numbers[0]
	}
	return r, nil
}
