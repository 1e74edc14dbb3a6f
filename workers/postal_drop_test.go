//go:build linux

package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

// The postal channel end to end: a drop (folder or S3 prefix) polled by the
// pipeline, batch scans split into letters, one dossier per letter, broken
// scans to failed/ and quarantine — with several replicas, and across a
// SIGKILL.

func encodeQR(payload string) (image.Image, error) { return validate.EncodeQR(payload) }

// threeLetterBatch: three letters, two separator sheets, blank backs; the
// second sheet carries the third letter's postmark and registered-letter
// number. Scanned at 300 dpi, askew by ±1.5°, noise σ 12, dust, JPEG 75.
var threeLetterBatch = struct {
	once    sync.Once
	pdf     []byte
	err     error
	pages   []intake.SimPage
	letters []string // expected Document.Path of each letter
}{
	pages: []intake.SimPage{
		{Lines: []string{"Lettre A, page 1", "Je sollicite le renouvellement de mon titre de séjour."}},
		{Blank: true, ShowThrough: true},
		{Lines: []string{"Lettre A, page 2"}, Code: "NOT-A-TOKEN-JUST-A-CODE"},
		{Separator: &intake.Separator{}},
		{Lines: []string{"Lettre B, page unique"}},
		{Blank: true},
		{Separator: &intake.Separator{Postmark: intake.Date{Year: 2026, Month: 3, Day: 12}, Registered: "1A12345678901"}},
		{Lines: []string{"Lettre C, page 1"}},
		{Lines: []string{"Lettre C, page 2"}},
	},
	letters: []string{"pages 1,3", "page 5", "pages 8-9"},
}

func batchScan(t testing.TB) []byte {
	t.Helper()
	f := &threeLetterBatch
	f.once.Do(func() {
		var jpegs [][]byte
		for i, p := range f.pages {
			angle := 1.5
			if i%2 == 1 {
				angle = -1.5
			}
			j, err := intake.ScanPages([]intake.SimPage{p}, intake.ScanStyle{Angle: angle, Noise: 12, Specks: 20, Seed: uint64(i + 1)}, encodeQR)
			if err != nil {
				f.err = err
				return
			}
			jpegs = append(jpegs, j...)
		}
		var buf bytes.Buffer
		f.err = intake.AssembleImages(context.Background(), &buf, jpegs, intake.ScanLimits{})
		f.pdf = buf.Bytes()
	})
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.pdf
}

// dropSource is the pipeline's description of a folder or S3 drop.
func dropSource(o intake.DropOptions, s3 bool) Source {
	open := func() (intake.Source, error) { return intake.NewFolderDrop(o) }
	if s3 {
		open = func() (intake.Source, error) { return intake.NewS3Drop(o) }
	}
	return Source{
		ID: intake.DropSourceID(o.Name), Site: "75", Channel: storage.ChannelPostal, Open: open,
		Split: intake.SplitOptions{Separators: true},
	}
}

func dropOptions(name, dir string, b storage.Bucket, holder string, log zerolog.Logger) intake.DropOptions {
	return intake.DropOptions{
		Name: name, Dir: dir, Bucket: b, Holder: holder,
		StableFor: 50 * time.Millisecond, RescanInterval: 200 * time.Millisecond, ClaimTTL: 2 * time.Second,
		Logger: log,
	}
}

func regularFiles(dir string) []string {
	des, _ := os.ReadDir(dir)
	var out []string
	for _, de := range des {
		if de.Type().IsRegular() {
			out = append(out, de.Name())
		}
	}
	sort.Strings(out)
	return out
}

// letterPages opens a dossier's letter and counts its pages.
func letterPages(t testing.TB, b storage.Bucket, m *storage.Manifest) int {
	t.Helper()
	rc, _, err := storage.Dossiers{Bucket: b}.OpenDocument(context.Background(), m, m.Documents[0].SafeName)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	scan, err := intake.OpenScan(context.Background(), rc, intake.ScanLimits{})
	if err != nil {
		t.Fatalf("dossier %s: letter unreadable: %v", m.Number, err)
	}
	return scan.Pages()
}

// byLetter orders the dossiers of one raw item by their letter's pages.
func byLetter(ms map[string]*storage.Manifest, raw string) []*storage.Manifest {
	var out []*storage.Manifest
	for _, m := range ms {
		if m.Raw == raw {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// TestPostalDropPipeline: a noisy three-letter batch with its sidecar and a
// truncated scan are dropped in a folder the pipeline polls. The batch
// becomes three dossiers holding the right pages (separator sheets and
// blank backs dropped) with the postal data of the sidecar and of the
// second sheet, and goes to done/ with its sidecar; the truncated scan goes
// to quarantine and to failed/ with its reason.
func TestPostalDropPipeline(t *testing.T) {
	t.Parallel()
	batch := batchScan(t)
	dir, b := t.TempDir(), newBucket(t)
	if err := os.WriteFile(filepath.Join(dir, "lot-0001.pdf"), batch, 0o640); err != nil {
		t.Fatal(err)
	}
	side := `{"received":"2026-03-14","sender":{"name":"Expéditeur du lot"},"letters":[{},{"postmark":"2026-03-10"}]}`
	if err := os.WriteFile(filepath.Join(dir, "lot-0001.json"), []byte(side), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tronque.pdf"), batch[:len(batch)/3], 0o640); err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, b)
	o.Sources = []Source{dropSource(dropOptions("courrier", dir, b, "h1", o.Logger), false)}
	p := newPipeline(t, o)
	runUntil(t, p, 5*time.Minute, func() (bool, string) {
		done, failed := regularFiles(filepath.Join(dir, "done")), regularFiles(filepath.Join(dir, "failed"))
		return len(done) == 2 && len(failed) == 2, fmt.Sprintf("done/ %v, failed/ %v", done, failed)
	})
	if got := regularFiles(filepath.Join(dir, "done")); !slices.Equal(got, []string{"lot-0001.pdf", "lot-0001.pdf.json"}) {
		t.Errorf("done/ holds %v", got)
	}
	reason, _ := os.ReadFile(filepath.Join(dir, "failed", "tronque.pdf.reason.txt"))
	if !strings.Contains(string(reason), "scan unreadable") {
		t.Errorf("failed/tronque.pdf.reason.txt = %q", reason)
	}
	q := quarantined(t, b)
	if len(q) != 1 || !strings.Contains(q[0].Reason, "scan unreadable") || !strings.Contains(string(reason), q[0].Raw) {
		t.Fatalf("quarantine: %+v", q)
	}

	ms := dossiers(t, b)
	letters := byLetter(ms, sha(batch))
	if len(ms) != 3 || len(letters) != 3 {
		t.Fatalf("%d dossiers, %d from the batch; want 3", len(ms), len(letters))
	}
	wantPages := []int{2, 1, 2}
	for i, m := range letters {
		doc := m.Documents[0]
		if m.Channel != storage.ChannelPostal || len(m.Documents) != 1 || doc.Path != threeLetterBatch.letters[i] || doc.Role != "scan" {
			t.Errorf("letter %d: dossier %s channel %s documents %+v; want %s", i+1, m.Number, m.Channel, m.Documents, threeLetterBatch.letters[i])
		}
		if n := letterPages(t, b, m); n != wantPages[i] {
			t.Errorf("letter %d: %d pages, want %d", i+1, n, wantPages[i])
		}
		if m.Postal == nil || m.Postal.Received == nil || m.Postal.Received.Format(time.DateOnly) != "2026-03-14" {
			t.Errorf("letter %d: postal %+v, want received 2026-03-14 from the sidecar", i+1, m.Postal)
		}
		if m.Sender == nil || m.Sender.Name != "Expéditeur du lot" {
			t.Errorf("letter %d: sender %+v", i+1, m.Sender)
		}
	}
	pm := func(m *storage.Manifest) string {
		if m.Postal == nil || m.Postal.Postmark == nil {
			return ""
		}
		return m.Postal.Postmark.Format(time.DateOnly)
	}
	if pm(letters[0]) != "" || pm(letters[1]) != "2026-03-10" || pm(letters[2]) != "2026-03-12" ||
		letters[2].Postal.Registered != "1A12345678901" || letters[2].Postal.Source != "separator+sidecar" {
		t.Errorf("postmarks %q %q %q, letter 3 postal %+v", pm(letters[0]), pm(letters[1]), pm(letters[2]), letters[2].Postal)
	}
	checkNumbers(t, b, ms, "75", 2026)
}

// TestPostalDropReplicas: two replicas, each polling the same folder and the
// same S3 prefix (here on the filesystem bucket) under their leases, with
// scans arriving while they run: every scan is registered exactly once.
func TestPostalDropReplicas(t *testing.T) {
	t.Parallel()
	dir, b := t.TempDir(), newBucket(t)
	const n = 12
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, h := range []string{"replica-a", "replica-b"} {
		o := testOptions(t, b)
		o.Holder = h
		o.LeaseTTL = 500 * time.Millisecond // leases change hands while scans flow
		folder := dropOptions("dossier", dir, b, h, o.Logger)
		prefix := dropOptions("depot-s3", "", b, h, o.Logger)
		prefix.Files, prefix.Prefix = b, "depot/"
		o.Sources = []Source{dropSource(folder, false), dropSource(prefix, true)}
		p := newPipeline(t, o)
		wg.Add(1)
		go func() { defer wg.Done(); p.Run(ctx) }()
	}
	var want []string
	for i := range n {
		scan := onePageScan(t, uint8(i))
		want = append(want, sha(scan))
		if i%2 == 0 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("scan%02d.pdf", i)), scan, 0o640)
		} else {
			b.Put(ctx, fmt.Sprintf("depot/scan%02d.pdf", i), bytes.NewReader(scan), storage.PutOptions{})
		}
		time.Sleep(20 * time.Millisecond) // arrivals spread over the run, not a bound
	}
	waitFor(t, 3*time.Minute, func() (bool, string) {
		f, s := regularFiles(filepath.Join(dir, "done")), keys(t, b, "depot/done/")
		return len(f)+len(s) == n, fmt.Sprintf("%d in done/, %d under depot/done/", len(f), len(s))
	})
	cancel()
	wg.Wait()
	ms := dossiers(t, b)
	if len(ms) != n {
		t.Errorf("%d dossiers for %d scans", len(ms), n)
	}
	for _, s := range want {
		if got := byLetter(ms, s); len(got) != 1 {
			t.Errorf("raw %s: %d dossiers, want 1", s, len(got))
		}
	}
	checkNumbers(t, b, ms, "75", time.Now().Year())
	if left := keys(t, b, "state/claims/"); len(left) != 0 {
		t.Errorf("claims left: %v", left)
	}
}

// onePageScan is a small one-letter scan, different for each v.
func onePageScan(t testing.TB, v uint8) []byte {
	t.Helper()
	pdf, err := intake.SimulatedBatch(context.Background(), []intake.SimPage{{Lines: []string{fmt.Sprintf("Courrier %d", v)}}},
		intake.ScanStyle{DPI: 100, Noise: 4, Seed: uint64(v)}, encodeQR)
	if err != nil {
		t.Fatal(err)
	}
	return pdf
}

// postalHelperEnv carries a postalHelper's configuration to a child.
const postalHelperEnv = "RECEVABLE_POSTAL_HELPER"

// postalHelper is what a child process runs: a pipeline polling a folder
// drop, SIGKILLed at the FaultAt-th time it reaches Fault (none: until
// SIGTERM).
type postalHelper struct {
	Bucket, Dir, Spool string
	Fault              FaultPoint
	FaultAt            int
}

// TestPostalHelperProcess is a child's body, not a test: without the
// environment variable it returns at once.
func TestPostalHelperProcess(t *testing.T) {
	raw := os.Getenv(postalHelperEnv)
	if raw == "" {
		return
	}
	var c postalHelper
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		os.Exit(2)
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Int("pid", os.Getpid()).Logger()
	b, err := storage.NewFS(c.Bucket)
	if err != nil {
		os.Exit(2)
	}
	holder := NewHolderID()
	var seen atomic.Int32
	do := dropOptions("courrier", c.Dir, b, holder, log)
	do.ClaimTTL = time.Second
	p, err := New(Options{
		Bucket: b, Sites: []Site{{ID: "75"}}, Sources: []Source{dropSource(do, false)}, Holder: holder,
		PoolSize: 2, LeaseTTL: time.Second, ShutdownTimeout: 20 * time.Second,
		Retry:    RetryPolicy{Attempts: 5, Min: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		SpoolDir: c.Spool, RecoverGrace: time.Millisecond, RecoverEvery: time.Second, Logger: log,
		Fault: func(point FaultPoint, raw string) {
			if point == c.Fault && int(seen.Add(1)) == c.FaultAt {
				log.Warn().Str("point", string(point)).Msg("fault: SIGKILL")
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		},
	})
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := p.Run(ctx); err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}

func startPostalChild(t testing.TB, c postalHelper) *child {
	t.Helper()
	cfg, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPostalHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), postalHelperEnv+"="+string(cfg))
	ch := &child{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = ch.out, ch.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { ch.err = cmd.Wait(); close(ch.done) }()
	t.Cleanup(func() {
		select {
		case <-ch.done:
		default:
			cmd.Process.Kill()
			<-ch.done
		}
		if t.Failed() {
			t.Logf("child %d log:\n%s", cmd.Process.Pid, lastLines(ch.out.String(), 200))
		}
	})
	return ch
}

// TestPostalDropCrash: a replica processing the three-letter batch from
// its drop is killed (SIGKILL) between two steps — after the second
// letter's number is reserved, after its dossier is written, after the
// done marker — and another replica is started. In every case the batch
// ends as exactly three dossiers, numbered without a gap, one raw object,
// nothing in quarantine, the scan in done/.
func TestPostalDropCrash(t *testing.T) {
	t.Parallel()
	batch := batchScan(t)
	for _, tc := range []struct {
		point FaultPoint
		at    int
	}{{FaultNumberReserved, 2}, {FaultDossierCreated, 2}, {FaultDoneMarked, 1}} {
		t.Run(string(tc.point), func(t *testing.T) {
			dir, bucketDir := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "lot.pdf"), batch, 0o640); err != nil {
				t.Fatal(err)
			}
			c := postalHelper{Bucket: bucketDir, Dir: dir, Spool: t.TempDir(), Fault: tc.point, FaultAt: tc.at}
			first := startPostalChild(t, c)
			first.wait(t, 5*time.Minute)
			if !first.killedBySIGKILL() {
				t.Fatalf("first replica exited with %v, want killed at %s", first.err, tc.point)
			}
			b, err := storage.NewFS(bucketDir)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(dossiers(t, b)); n >= 3 && tc.point != FaultDoneMarked {
				t.Fatalf("%d dossiers before the restart: the fault came too late", n)
			}
			c.Fault, c.FaultAt = "", 0
			second := startPostalChild(t, c)
			waitFor(t, 5*time.Minute, func() (bool, string) {
				done := regularFiles(filepath.Join(dir, "done"))
				return len(done) == 1, fmt.Sprintf("done/ %v, drop %v", done, regularFiles(dir))
			})
			second.terminate(t)
			ms := dossiers(t, b)
			if got := byLetter(ms, sha(batch)); len(ms) != 3 || len(got) != 3 {
				t.Errorf("%d dossiers (%d from the batch), want 3", len(ms), len(got))
			}
			for i, m := range byLetter(ms, sha(batch)) {
				if m.Documents[0].Path != threeLetterBatch.letters[i] {
					t.Errorf("letter %d: %s, want %s", i+1, m.Documents[0].Path, threeLetterBatch.letters[i])
				}
			}
			checkNumbers(t, b, ms, "75", time.Now().Year())
			if raws := keys(t, b, "raw/"); len(raws) != 1 {
				t.Errorf("raw objects: %v", raws)
			}
			if q := quarantined(t, b); len(q) != 0 {
				t.Errorf("quarantine: %+v", q)
			}
		})
	}
}
