package validate

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testLetter is a letter of site 75 with its token, and the key set that
// verifies it.
func testLetter(t testing.TB) (Letter, Claims, KeySet) {
	t.Helper()
	k := testKey(t, "75", date(2026, 1, 15), 1)
	c := testClaims(t, "75")
	c.Name = HashName("Chloé Lœtitia N'Diaye-Çelik")
	tok, err := SignToken(c, k)
	if err != nil {
		t.Fatal(err)
	}
	c.KeyID = k.ID
	ks, err := NewKeySet("75", k.Public())
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return Letter{
		Site: LetterSite{
			Name:          "Préfecture de police",
			Letterhead:    []string{"PRÉFECTURE DE POLICE", "Direction des étrangers", "Bureau des titres de séjour"},
			City:          "Paris",
			PostalAddress: []string{"Préfecture de police – DPG", "Bureau du séjour", "9, boulevard du Palais", "75195 Paris Cedex 04"},
			Email:         "pp-depot-sejour@interieur.gouv.fr",
			Phone:         "01 53 71 53 71",
		},
		Date:             time.Date(2026, 3, 2, 10, 30, 0, 0, paris),
		ApplicantName:    "Chloé Lœtitia N'Diaye-Çelik",
		ApplicantAddress: []string{"12, rue de l'Œuvre", "75011 Paris"},
		Reference:        c.Reference,
		Token:            tok,
		Expires:          c.ExpiresOn,
	}, c, ks
}

func TestLetterTextGolden(t *testing.T) {
	t.Parallel()
	l, _, _ := testLetter(t)
	var b strings.Builder
	b.WriteString(l.dateLine() + "\n" + letterSubject + "\n" + l.Reference.String() + "\n\n")
	for _, blk := range l.body() {
		switch blk.kind {
		case blockHeading:
			b.WriteString("## ")
		case blockBullet:
			b.WriteString("- ")
		case blockIndent:
			b.WriteString("    ")
		}
		b.WriteString(blk.text + "\n")
	}
	b.WriteString(strings.Join(footerLines(l.Site), "\n") + "\n")
	golden := filepath.Join("testdata", "letter.golden.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestLetterTextGolden -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("letter text differs from %s (review, then -update):\n%s", golden, b.String())
	}
}

func TestRenderLetterStrictPDF(t *testing.T) {
	t.Parallel()
	l, _, _ := testLetter(t)
	var buf bytes.Buffer
	if err := RenderLetter(&buf, l); err != nil {
		t.Fatal(err)
	}
	api.DisableConfigDir()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationStrict
	ctx, err := api.ReadContext(bytes.NewReader(buf.Bytes()), conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.ValidateContext(ctx); err != nil {
		t.Errorf("letter fails pdfcpu strict validation: %v", err)
	}
	if ctx.PageCount != 1 {
		t.Errorf("letter has %d pages, want 1", ctx.PageCount)
	}
	t.Logf("letter PDF: %d bytes", buf.Len())

	// Same letter, same bytes: a reprint is identical.
	var again bytes.Buffer
	if err := RenderLetter(&again, l); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two renderings of the same letter differ")
	}
}

func TestRenderLetterIncomplete(t *testing.T) {
	t.Parallel()
	l, _, _ := testLetter(t)
	breakers := map[string]func(*Letter){
		"no email":          func(l *Letter) { l.Site.Email = "" },
		"no postal address": func(l *Letter) { l.Site.PostalAddress = nil },
		"no name":           func(l *Letter) { l.ApplicantName = " " },
		"no token":          func(l *Letter) { l.Token = "" },
		"no reference":      func(l *Letter) { l.Reference = Reference{} },
		"expired before":    func(l *Letter) { l.Expires = l.Date.AddDate(0, 0, -1) },
	}
	for name, breakIt := range breakers {
		bad := l
		breakIt(&bad)
		var buf bytes.Buffer
		if err := RenderLetter(&buf, bad); !errors.Is(err, ErrLetter) {
			t.Errorf("RenderLetter(%s) error = %v, want ErrLetter", name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("RenderLetter(%s) wrote %d bytes", name, buf.Len())
		}
	}
}

// TestRenderLetterRoundTrip prints the letter the way poppler does, reads
// the QR code back from the picture and verifies the token; and checks with
// pdftotext that the accented text is really in the PDF.
func TestRenderLetterRoundTrip(t *testing.T) {
	t.Parallel()
	needTool(t, "pdftoppm")
	needTool(t, "pdftotext")
	l, claims, ks := testLetter(t)
	dir := t.TempDir()
	pdfPath := filepath.Join(dir, "lettre.pdf")
	writeLetter(t, pdfPath, l)

	out := filepath.Join(dir, "page")
	run(t, "pdftoppm", "-r", "150", "-png", "-singlefile", pdfPath, out)
	f, err := os.Open(out + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	payloads, err := DecodeQR(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(payloads) != 1 {
		t.Fatalf("QR codes found on the rendered letter: %q, want 1", payloads)
	}
	got, err := VerifyToken(payloads[0], ks)
	if err != nil {
		t.Fatalf("token read from the letter: %v", err)
	}
	if !claimsEqual(got, claims) {
		t.Errorf("claims read from the letter = %+v, want %+v", got, claims)
	}
	if got.Name != HashName(l.ApplicantName) {
		t.Error("name hash in the letter's token is not the applicant's")
	}

	txt := run(t, "pdftotext", "-enc", "UTF-8", pdfPath, "-")
	flat := strings.Join(strings.Fields(txt), " ")
	for _, want := range []string{
		"Chloé Lœtitia N'Diaye-Çelik", "12, rue de l'Œuvre", "Paris, le 2 mars 2026",
		l.Reference.String(), "pp-depot-sejour@interieur.gouv.fr", "9, boulevard du Palais",
		"au plus tard le 1er juin 2026", "article 4 de l'arrêté du 1er août 2023", "séjour", "à déposer",
		"PRÉFECTURE DE POLICE",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("pdftotext of the letter lacks %q", want)
		}
	}
}

func TestCP1252(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"é è ê à ç œ Œ « »", "\xe9 \xe8 \xea \xe0 \xe7 \x9c \x8c \xab \xbb"},
		{"Nguyễn", "Nguyen"},
		{"Şükrü", "S\xfckr\xfc"}, // ü is in Windows-1252, Ş is not
		{"محمد", "????"},
		{"Où ? Là : ici ; oui !", "O\xf9\xa0? L\xe0\xa0: ici\xa0; oui\xa0!"},
	}
	for _, tc := range tests {
		if got := cp1252(tc.in); got != tc.want {
			t.Errorf("cp1252(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := FrenchDate(date(2023, 8, 1)); got != "1er août 2023" {
		t.Errorf("FrenchDate(2023-08-01) = %q", got)
	}
	if got := FrenchDate(date(2026, 12, 31)); got != "31 décembre 2026" {
		t.Errorf("FrenchDate(2026-12-31) = %q", got)
	}
}

// needTool fails in CI when a program the test needs is missing, and skips
// elsewhere.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (Debian poppler-utils): %v", name, err)
		}
		t.Skipf("%s not installed (Debian poppler-utils); skipping", name)
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %v: %v: %s", name, args, err, ee.Stderr)
		}
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

func writeLetter(t testing.TB, path string, l Letter) {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderLetter(&buf, l); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
