package intake_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recevable/intake"
	"recevable/storage"
)

func folderDrop(t testing.TB, dir string, b storage.Bucket, holder string, mod func(*intake.DropOptions)) *intake.DropSource {
	t.Helper()
	o := intake.DropOptions{
		Name: "courrier", Dir: dir, Bucket: b, Holder: holder,
		StableFor: 20 * time.Millisecond, RescanInterval: 50 * time.Millisecond, ClaimTTL: 10 * time.Second,
		Logger: testLog(t),
	}
	if mod != nil {
		mod(&o)
	}
	s, err := intake.NewFolderDrop(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFolderDropFlow: a scan with its sidecar is taken with the sidecar in
// its coordinates, and both move to done/ on ack; temporary files, dot
// files and subfolders are left alone.
func TestFolderDropFlow(t *testing.T) {
	t.Parallel()
	dir, b := t.TempDir(), fsBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	scan := tinyScan(t, 1)
	writeFile(t, filepath.Join(dir, "scan0001.pdf"), scan)
	writeFile(t, filepath.Join(dir, "scan0001.json"), []byte(`{"postmark":"2026-03-12","registered":"1a 123 456 7890 1","sender":{"name":"Expéditeur Test"}}`))
	for _, n := range []string{"scan0002.pdf.tmp", ".scan0003.pdf", "~$brouillon.pdf", "scan0004.part"} {
		writeFile(t, filepath.Join(dir, n), scan)
	}
	if err := os.Mkdir(filepath.Join(dir, "archives"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "archives", "old.pdf"), scan)

	s := folderDrop(t, dir, b, "h1", nil)
	item, ack, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if item.Coordinates[intake.CoordName] != "scan0001.pdf" || item.Size != int64(len(scan)) || item.Source != "drop:courrier" {
		t.Fatalf("item %s %v size %d", item.Source, item.Coordinates, item.Size)
	}
	side, ok, err := intake.SidecarFromCoordinates(item.Coordinates)
	if !ok || err != nil || side.Postmark.String() != "2026-03-12" || side.Registered != "1A12345678901" || side.Sender.Name != "Expéditeur Test" {
		t.Fatalf("sidecar from coordinates: %+v, %v, %v (coordinates %v)", side, ok, err, item.Coordinates)
	}
	if claimsLeft(t, b) != 1 {
		t.Errorf("claims while in flight: %d, want 1", claimsLeft(t, b))
	}
	w := newMiniWorker(b)
	if _, err := w.handle(ctx, item, ack); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, filepath.Join(dir, "done")), []string{"scan0001.pdf", "scan0001.pdf.json"}; !slices.Equal(got, want) {
		t.Errorf("done/ holds %v, want %v", got, want)
	}
	if got, want := names(t, dir), []string{".scan0003.pdf", "scan0002.pdf.tmp", "scan0004.part", "~$brouillon.pdf"}; !slices.Equal(got, want) {
		t.Errorf("drop holds %v, want %v", got, want)
	}
	if claimsLeft(t, b) != 0 {
		t.Errorf("claims left after the ack: %d", claimsLeft(t, b))
	}
	// Nothing else to take: Next waits until its context ends.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if item, _, err := s.Next(short); err == nil {
		t.Errorf("Next took %v, a file it should ignore", item.Coordinates)
	}

	// The same name again later (scanners restart their counters): a new
	// file, moved to done/ under another name.
	writeFile(t, filepath.Join(dir, "scan0001.pdf"), tinyScan(t, 2))
	item, ack, err = s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.handle(ctx, item, ack); err != nil {
		t.Fatal(err)
	}
	if got := names(t, filepath.Join(dir, "done")); len(got) != 3 || !strings.HasPrefix(got[0], "scan0001-") {
		t.Errorf("done/ after a second scan0001.pdf: %v", got)
	}
}

// TestFolderDropNotifications: with a rescan every hour, a file dropped
// while Next waits is taken: the folder's change notifications woke it.
func TestFolderDropNotifications(t *testing.T) {
	t.Parallel()
	dir, b := t.TempDir(), fsBucket(t)
	s := folderDrop(t, dir, b, "h1", func(o *intake.DropOptions) { o.RescanInterval = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		item, _, err := s.Next(ctx)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		item.Release()
		got <- item.Coordinates[intake.CoordName]
	}()
	// Written under a temporary name and renamed, as careful scanners do.
	writeFile(t, filepath.Join(dir, "lot.pdf.part"), tinyScan(t, 3))
	if err := os.Rename(filepath.Join(dir, "lot.pdf.part"), filepath.Join(dir, "lot.pdf")); err != nil {
		t.Fatal(err)
	}
	if name := <-got; name != "lot.pdf" {
		t.Errorf("Next = %q, want lot.pdf", name)
	}
}

// TestFolderDropFailed: a truncated scan, a file that is no scan at all and
// one over the size limit go to failed/ with a reason beside each (and a
// quarantine entry for those stored); the good scan beside them goes to
// done/.
func TestFolderDropFailed(t *testing.T) {
	t.Parallel()
	dir, b := t.TempDir(), fsBucket(t)
	good := tinyScan(t, 4)
	writeFile(t, filepath.Join(dir, "a-tronque.pdf"), good[:len(good)/2])
	writeFile(t, filepath.Join(dir, "b-lettre.docx"), []byte("PK\x03\x04 not a scan"))
	writeFile(t, filepath.Join(dir, "c-bon.pdf"), good)
	big := append(tinyScan(t, 5), make([]byte, 4096)...)
	writeFile(t, filepath.Join(dir, "d-enorme.pdf"), big)
	s := folderDrop(t, dir, b, "h1", func(o *intake.DropOptions) { o.MaxBytes = int64(len(big) - 1) })
	w := newMiniWorker(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shas := map[string]string{}
	for range 4 {
		item, ack, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		name := item.Coordinates[intake.CoordName]
		sha, err := w.handle(ctx, item, ack)
		if err != nil {
			t.Fatal(err)
		}
		shas[name] = sha
	}
	if got := names(t, filepath.Join(dir, "done")); !slices.Equal(got, []string{"c-bon.pdf"}) {
		t.Errorf("done/ holds %v", got)
	}
	failed := filepath.Join(dir, "failed")
	want := []string{"a-tronque.pdf", "a-tronque.pdf.reason.txt", "b-lettre.docx", "b-lettre.docx.reason.txt", "d-enorme.pdf", "d-enorme.pdf.reason.txt"}
	if got := names(t, failed); !slices.Equal(got, want) {
		t.Fatalf("failed/ holds %v, want %v", got, want)
	}
	for name, wantText := range map[string]string{
		"a-tronque.pdf": "scan unreadable", "b-lettre.docx": "scan format not accepted", "d-enorme.pdf": "scan_size",
	} {
		reason, _ := os.ReadFile(filepath.Join(failed, name+".reason.txt"))
		if !strings.Contains(string(reason), wantText) {
			t.Errorf("%s.reason.txt = %q, want it to say %q", name, reason, wantText)
		}
		if sha := shas[name]; sha != "" {
			e, _, err := (storage.Quarantine{Bucket: b}).Get(ctx, sha)
			if err != nil || !strings.Contains(string(reason), sha) {
				t.Errorf("%s: quarantine entry %+v, %v; reason file %q should name raw %s", name, e, err, reason, sha)
			}
		}
	}
	if shas["d-enorme.pdf"] != "" || rawCount(t, b) != 3 {
		t.Errorf("the oversize file was stored (%q); raw objects: %d, want 3", shas["d-enorme.pdf"], rawCount(t, b))
	}
}

// TestFolderDropRelease: an item released without an ack stays in the
// drop, its claim is given up, and it is offered again.
func TestFolderDropRelease(t *testing.T) {
	t.Parallel()
	dir, b := t.TempDir(), fsBucket(t)
	writeFile(t, filepath.Join(dir, "scan.pdf"), tinyScan(t, 6))
	s := folderDrop(t, dir, b, "h1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	item, _, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	item.Release()
	if claimsLeft(t, b) != 0 || !slices.Equal(names(t, dir), []string{"scan.pdf"}) {
		t.Fatalf("after a release: %d claims, drop holds %v", claimsLeft(t, b), names(t, dir))
	}
	item, ack, err := s.Next(ctx)
	if err != nil || item.Coordinates[intake.CoordName] != "scan.pdf" {
		t.Fatalf("taken again: %v, %v", item.Coordinates, err)
	}
	if _, err := newMiniWorker(b).handle(ctx, item, ack); err != nil {
		t.Fatal(err)
	}
}

// TestFolderDropTwoReplicas: two replicas watch the same folder with the
// same bucket; 30 scans arrive while they run. Every scan is taken exactly
// once, in all, and ends in done/.
func TestFolderDropTwoReplicas(t *testing.T) {
	t.Parallel()
	dir, b := t.TempDir(), fsBucket(t)
	const n = 30
	w := newMiniWorker(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, holder := range []string{"replica-a", "replica-b"} {
		s := folderDrop(t, dir, b, holder, nil)
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, t, s) }()
	}
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("scan%04d.pdf", i)), tinyScan(t, uint8(i)))
	}
	eventually(t, "30 scans in done/", func() bool { return len(names(t, filepath.Join(dir, "done"))) == n })
	cancel()
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range n {
		name := fmt.Sprintf("scan%04d.pdf", i)
		if w.taken[name] != 1 {
			t.Errorf("%s taken %d times", name, w.taken[name])
		}
	}
	if len(names(t, dir)) != 0 || rawCount(t, b) != n || claimsLeft(t, b) != 0 {
		t.Errorf("drop holds %v; %d raw objects (want %d); %d claims left", names(t, dir), rawCount(t, b), n, claimsLeft(t, b))
	}
}

// TestFolderDropKill: a replica is killed (SIGKILL, a real process) after
// storing a scan's raw bytes and before acking. Its claim expires; the
// restarted replica takes the scan again, finds the same raw object (the
// bucket holds one), and moves the scan to done/: no loss, no duplicate.
func TestFolderDropKill(t *testing.T) {
	if os.Getenv("RECEVABLE_DROP_CHILD") != "" {
		t.Skip("runs as the child of TestFolderDropKill")
	}
	t.Parallel()
	dir, bucketDir := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(dir, "scan.pdf"), tinyScan(t, 7))
	cmd := exec.Command(os.Args[0], "-test.run=^TestDropKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), "RECEVABLE_DROP_CHILD="+dir, "RECEVABLE_DROP_CHILD_BUCKET="+bucketDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stored := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sha, ok := strings.CutPrefix(sc.Text(), "STORED "); ok {
			stored = sha
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if stored == "" {
		t.Fatal("the child never stored the scan")
	}
	b, err := storage.NewFS(bucketDir)
	if err != nil {
		t.Fatal(err)
	}
	if claimsLeft(t, b) != 1 || !slices.Equal(names(t, dir), []string{"scan.pdf"}) {
		t.Fatalf("after the kill: %d claims, drop holds %v", claimsLeft(t, b), names(t, dir))
	}
	s := folderDrop(t, dir, b, "restarted", func(o *intake.DropOptions) { o.ClaimTTL = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	item, ack, err := s.Next(ctx) // waits for the dead replica's claim to expire
	if err != nil {
		t.Fatal(err)
	}
	sha, err := newMiniWorker(b).handle(ctx, item, ack)
	if err != nil {
		t.Fatal(err)
	}
	if sha != stored || rawCount(t, b) != 1 {
		t.Errorf("restart stored %s (%d raw objects), the killed replica %s", sha, rawCount(t, b), stored)
	}
	if !slices.Equal(names(t, filepath.Join(dir, "done")), []string{"scan.pdf"}) || len(names(t, dir)) != 0 || claimsLeft(t, b) != 0 {
		t.Errorf("done/ %v, drop %v, claims %d", names(t, filepath.Join(dir, "done")), names(t, dir), claimsLeft(t, b))
	}
}

// TestDropKillChild is the replica TestFolderDropKill kills: it takes the
// scan, stores it, says so, and waits to be killed.
func TestDropKillChild(t *testing.T) {
	env := os.Getenv("RECEVABLE_DROP_CHILD")
	if env == "" {
		t.Skip("only as the child of TestFolderDropKill")
	}
	dir, bucketDir := env, os.Getenv("RECEVABLE_DROP_CHILD_BUCKET")
	b, err := storage.NewFS(bucketDir)
	if err != nil {
		t.Fatal(err)
	}
	s := folderDrop(t, dir, b, "doomed", func(o *intake.DropOptions) { o.ClaimTTL = time.Second })
	ctx := context.Background()
	item, _, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := storage.Raws{Bucket: b}.Store(ctx, storage.RawMeta{Source: item.Source, Coordinates: item.Coordinates}, item.Open)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("STORED %s\n", meta.SHA256)
	os.Stdout.Sync()
	time.Sleep(time.Hour) // killed here, mid-processing
}
