package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"recevable/storage"
)

// What the demo waits for and what it prints once the workers are done.

// demoResult is what became of one sample.
type demoResult struct {
	Sample demoSample
	Raw    string
	// Dossiers made from it, in the order of the done record (one per
	// letter for a batch).
	Dossiers []*storage.Manifest
	// Quarantine is set when it went to quarantine instead.
	Quarantine *storage.QuarantineEntry
	// New: processed by this run (not found done from an earlier one).
	New bool
}

// demoDigests returns the raw key (storage.Digest) of each sample, by file.
func demoDigests(samples map[string][]byte) (map[string]string, error) {
	out := make(map[string]string, len(samples))
	for name, b := range samples {
		sha, _, err := storage.Digest(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		out[name] = sha
	}
	return out, nil
}

// collectDemo reads what became of each sample, given by its digest
// (demoDigests). pending lists those not finished yet.
func collectDemo(ctx context.Context, b storage.Bucket, digests map[string]string, since time.Time) (res []demoResult, pending []string, err error) {
	raws, quar, dossiers := storage.Raws{Bucket: b}, storage.Quarantine{Bucket: b}, storage.Dossiers{Bucket: b}
	for _, s := range demoSamples {
		sha := digests[s.File]
		r := demoResult{Sample: s, Raw: sha}
		done, err := raws.GetDone(ctx, sha)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			q, _, qerr := quar.Get(ctx, sha)
			if errors.Is(qerr, storage.ErrNotFound) {
				pending = append(pending, s.File)
				continue
			}
			if qerr != nil {
				return nil, nil, qerr
			}
			r.Quarantine, r.New = &q, !q.LastSeen.Before(since)
			res = append(res, r)
			continue
		case err != nil:
			return nil, nil, err
		}
		r.New = !done.At.Before(since)
		numbers := done.Numbers
		if done.DuplicateOf != "" {
			first, err := raws.GetDone(ctx, done.DuplicateOf)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: first copy %s: %w", s.File, done.DuplicateOf, err)
			}
			numbers = first.Numbers
		}
		for _, n := range numbers {
			m, _, err := dossiers.Get(ctx, n)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: dossier %s: %w", s.File, n, err)
			}
			r.Dossiers = append(r.Dossiers, m)
		}
		res = append(res, r)
	}
	return res, pending, nil
}

// demoWait is what waitDemo watches.
type demoWait struct {
	Bucket  storage.Bucket
	Samples map[string][]byte
	Mailbox *demoMailbox
	Dirs    demoDirs
	Since   time.Time
	// Stopped is closed when the service stopped on its own (a failure).
	Stopped <-chan struct{}
	Timeout time.Duration
}

// waitDemo waits until every sample is finished (a dossier or quarantine),
// the mailbox is empty and the drop holds no scan: the workers acknowledge
// an item only once it is processed, so by then nothing is in flight.
func waitDemo(ctx context.Context, w demoWait) ([]demoResult, error) {
	deadline := time.NewTimer(w.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	// Hashed once: the samples do not change while the demo waits.
	digests, err := demoDigests(w.Samples)
	if err != nil {
		return nil, err
	}
	var why string
	for {
		res, pending, err := collectDemo(ctx, w.Bucket, digests, w.Since)
		if err != nil {
			return nil, err
		}
		waiting, err := w.Mailbox.Waiting()
		if err != nil {
			return nil, err
		}
		_, statErr := os.Stat(filepath.Join(w.Dirs.Drop, demoBatchFile))
		inDrop := statErr == nil
		switch {
		case len(pending) > 0:
			why = "not processed yet: " + strings.Join(pending, ", ")
		case waiting > 0:
			why = fmt.Sprintf("%d message(s) not yet acknowledged in the mailbox", waiting)
		case inDrop:
			why = "the batch scan is still in the drop"
		default:
			return res, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.Stopped:
			return nil, errors.New("the service stopped before the samples were processed")
		case <-deadline.C:
			return nil, fmt.Errorf("gave up after %v: %s", w.Timeout, why)
		case <-tick.C:
		}
	}
}

// checkDemoUI asks the interface for its login page, as a browser would,
// and logs in with the first demo account through the API: the summary
// never prints a password that does not work.
func checkDemoUI(ctx context.Context, base, password string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	do := func(method, path, body string) error {
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("the interface did not answer: %w", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("the interface answered %s to %s %s", resp.Status, method, path)
		}
		return nil
	}
	if err := do(http.MethodGet, "/connexion", ""); err != nil {
		return err
	}
	login, err := json.Marshal(map[string]string{"login": demoAccounts[0].ID, "password": password})
	if err != nil {
		return err
	}
	return do(http.MethodPost, "/api/session", string(login))
}

// demoSummary is everything the summary prints.
type demoSummary struct {
	Results  []demoResult
	Total    int // dossiers in the bucket
	NewTotal int // made by this run
	Dirs     demoDirs
	Letters  []string
	URL      string
	Password string
	Once     bool
	Elapsed  time.Duration
}

// printDemoSummary writes the summary: each dossier with its channel and
// proposed outcome, where things are, how to look at them, how to stop.
func printDemoSummary(w io.Writer, s demoSummary) {
	fmt.Fprintf(w, "\nThe samples were processed in %.1f s. Dossiers:\n\n", s.Elapsed.Seconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NUMBER\tCHANNEL\tPROPOSED OUTCOME\tSUBMISSION")
	first := ""
	for _, r := range s.Results {
		earlier := ""
		if !r.New {
			earlier = " (from an earlier run)"
		}
		what := r.Sample.File + ": " + r.Sample.Shows + earlier
		if r.Quarantine != nil {
			fmt.Fprintf(tw, "  -\t%s\tquarantine: %s\t%s\n", r.Sample.Channel, r.Quarantine.Reason, what)
			continue
		}
		for i, m := range r.Dossiers {
			if first == "" {
				first = m.Number
			}
			line := what
			if i < len(r.Sample.Letters) {
				line = r.Sample.File + ", " + r.Sample.Letters[i] + earlier
			}
			outcome := string(m.Decision.Outcome)
			if len(m.Decision.Reasons) > 0 {
				outcome += " (" + m.Decision.Reasons[0].Code + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.Number, m.Channel, outcome, line)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\n  %d dossier(s) in the bucket, %d new in this run. Run the demo again: nothing is registered twice.\n", s.Total, s.NewTotal)

	d := s.Dirs
	fmt.Fprintf(w, "\nOn disk, under %s:\n\n", d.Root)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\teach dossier: manifest.json~ and documents/ (objects end in ~ and carry a metadata trailer: read them in the interface)\n",
		filepath.Join(d.Bucket, "dossiers", demoSite, "<year>", "<number>")+string(filepath.Separator))
	fmt.Fprintf(tw, "  %s\tthe originals, as received (raw/<sha256>~)\n", filepath.Join(d.Bucket, "raw")+string(filepath.Separator))
	fmt.Fprintf(tw, "  %s\tthe emails (.eml) and the batch scan delivered\n", d.Samples+string(filepath.Separator))
	for _, l := range s.Letters {
		fmt.Fprintf(tw, "  %s\tan invitation letter, with its reference and QR code\n", l)
	}
	fmt.Fprintf(tw, "  %s\tthe mailroom's scan drop: put a PDF scan in it and it becomes a dossier\n", d.Drop+string(filepath.Separator))
	fmt.Fprintf(tw, "  %s\tthe service's log\n", d.Log)
	tw.Flush()

	fmt.Fprintf(w, "\nStaff interface: %s/\n", s.URL)
	fmt.Fprintf(w, "  log in as agent, superviseur or courrier, password %s (drawn for this run)\n", s.Password)
	fmt.Fprintf(w, "  the queues: %s/dossiers", s.URL)
	if first != "" {
		fmt.Fprintf(w, "  one dossier: %s/dossiers/%s", s.URL, first)
	}
	fmt.Fprintf(w, "\n  invitations (superviseur): %s/invitations  mailroom upload (courrier): %s/courrier\n", s.URL, s.URL)
	if s.Once {
		fmt.Fprintf(w, "\n-once: stopping now. Start over with: rm -rf %s\n", d.Root)
		return
	}
	fmt.Fprintf(w, "\nServing until Ctrl-C. Start over with: rm -rf %s\n", d.Root)
}

// countDossiers counts the manifests in the bucket.
func countDossiers(ctx context.Context, b storage.Bucket) (int, error) {
	n := 0
	err := storage.ListAll(ctx, b, "dossiers/", func(o storage.Info) error {
		if strings.HasSuffix(o.Key, "/manifest.json") {
			n++
		}
		return nil
	})
	return n, err
}
