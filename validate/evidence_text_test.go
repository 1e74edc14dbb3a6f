package validate

import (
	"archive/zip"
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestFoldText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Impossibilité  TECHNIQUE":         "impossibilite technique",
		"n’avez\u00a0pas pu déposer":       "n'avez pas pu deposer",
		"\tDÉPÔT EN LIGNE —\nimpossible  ": "depot en ligne - impossible",
		"Œuvre":                            "oeuvre",
		"":                                 "",
	} {
		if got := foldText(in); got != want {
			t.Errorf("foldText(%q) = %q, want %q", in, got, want)
		}
	}
	m := newPhraseMatcher(testPhrases)
	if got := m.find(foldText("Nous constatons l'IMPOSSIBILITE technique du dépôt")); got != "impossibilité technique" {
		t.Errorf("phrase in upper case without accents: %q", got)
	}
	if got := m.find(foldText("Votre demande est enregistrée")); got != "" {
		t.Errorf("phrase found in a text without one: %q", got)
	}
}

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	got := htmlToText(`<html><head><title>T</title><style>p{}</style></head><body><p>Réf&nbsp;: <b>INV-75</b>-2026</p><script>x("INV")</script><br>fin &amp; suite<!-- INV-cache --></body></html>`)
	for _, want := range []string{"Réf\u00a0: ", "INV-75 -2026", "fin & suite"} {
		if !strings.Contains(got, want) {
			t.Errorf("htmlToText: %q lacks %q", got, want)
		}
	}
	for _, not := range []string{"<", "p{}", `x("INV")`, "cache"} {
		if strings.Contains(got, not) {
			t.Errorf("htmlToText: %q keeps %q", got, not)
		}
	}
}

func TestFindTickets(t *testing.T) {
	t.Parallel()
	got := findTickets(testTicketPattern, "Ticket n° ccc-2026-004711. Votre ticket concernant… Ticket: 88812345; ticket N°AB12CD")
	want := []string{"CCC-2026-004711", "88812345", "AB12CD"}
	if !slices.Equal(got, want) {
		t.Errorf("findTickets = %q, want %q (a word without a digit is not a ticket)", got, want)
	}
	if findTickets(nil, "ticket 123456") != nil {
		t.Error("tickets found without a pattern")
	}
}

func TestContainsName(t *testing.T) {
	t.Parallel()
	h := HashName("Chloé Lœtitia N'Diaye-Çelik")
	for text, want := range map[string]bool{
		"Dossier de Mme N’DIAYE-ÇELIK Chloé Lœtitia, née le 1er mai 1990.": true,
		"chloe loetitia n'diaye-celik":                                     true,
		"Chloé N'Diaye-Çelik":                                              false, // a word missing
		"Chloé Lœtitia N'Diaye-Çelik-Martin":                               false,
		"":                                                                 false,
	} {
		if got := containsName(nameWords(text, maxNameWords), h); got != want {
			t.Errorf("containsName(%q) = %v, want %v", text, got, want)
		}
	}
	if containsName([]string{"X"}, NameHash{}) {
		t.Error("the zero hash matched")
	}
}

func TestDepartmentOfAddress(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"12, rue de l'Œuvre\n75011 Paris":          "75",
		"3 allée des Pins 93200 Saint-Denis":       "93",
		"BP 12 20000 Ajaccio":                      "2A",
		"20200 Bastia":                             "2B",
		"1 rue du Port, 97400 Saint-Denis":         "974",
		"Marigot 97150 Saint-Martin":               "971",
		"98000 Monaco":                             "",
		"Appartement 12345, 01000 Bourg-en-Bresse": "01",
		"no code here":                             "",
		"12345678":                                 "",
	} {
		if got := DepartmentOfAddress(addr); got != want {
			t.Errorf("DepartmentOfAddress(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestOneTypo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"752026ABCDEFGH12", "752026ABCDEFGX12", true},  // substitution
		{"752026ABCDEFGH12", "752026ABCDEGFH12", true},  // swap
		{"752026ABCDEFGH12", "752026ABCDEGH12", true},   // deletion
		{"752026ABCDEFGH12", "752026ABCDXEFGH12", true}, // insertion
		{"752026ABCDEFGH12", "752026ABCDEFGH12", false},
		{"752026ABCDEFGH12", "752026XBCDEFGX12", false},
		{"752026ABCDEFGH12", "752026BACDEFHG12", false},
	} {
		if got := oneTypo(tc.a, tc.b); got != tc.want {
			t.Errorf("oneTypo(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestGroupInvitations(t *testing.T) {
	t.Parallel()
	tok, _ := testToken(t)
	c, err := ParseTokenUnverified(tok)
	if err != nil {
		t.Fatal(err)
	}
	ref := c.Reference.String()
	refs := []refSighting{}
	for _, text := range []string{"objet " + ref, "corps " + strings.ToLower(ref), "INV-75-2026-AAAA-AAAA-00"} {
		for _, f := range FindReferences(text) {
			refs = append(refs, refSighting{where: text[:5], found: f})
		}
	}
	got := groupInvitations(refs, []tokenSighting{{where: "scan", token: tok}, {where: "photo", token: "RCV1:???"}})
	if len(got) != 3 {
		t.Fatalf("groupInvitations: %d candidates, want 3 (the reference, the unreadable code, the typo)", len(got))
	}
	if got[0].key != ref || len(got[0].tokens) != 1 || !slices.Equal(got[0].typed, []string{"objet", "corps"}) {
		t.Errorf("first candidate: %+v", got[0])
	}
	if got[1].refErr == nil || got[2].refErr == nil {
		t.Errorf("unreadable code and typo must carry their error: %+v %+v", got[1], got[2])
	}
}

// officeDoc builds a minimal .docx with the paragraphs given, each word in
// its own run as Word writes them.
func officeDoc(t *testing.T, member string, paras ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	f, err := zw.Create(member)
	if err != nil {
		t.Fatal(err)
	}
	var x strings.Builder
	x.WriteString(`<?xml version="1.0"?><w:document><w:body>`)
	for _, p := range paras {
		x.WriteString("<w:p>")
		for _, part := range strings.SplitAfter(p, "-") {
			x.WriteString("<w:r><w:t>" + part + "</w:t></w:r>")
		}
		x.WriteString("</w:p>")
	}
	x.WriteString("</w:body></w:document>")
	f.Write([]byte(x.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractOfficeText(t *testing.T) {
	t.Parallel()
	doc := officeDoc(t, "word/document.xml", "Objet : demande", "Référence INV-75-2026-7KQ3-M9XD-47 &amp; pièces")
	got, err := extractOfficeText(context.Background(), doc, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "Objet : demande\n") || !strings.Contains(got, "INV-75-2026-7KQ3-M9XD-47 & pièces") {
		t.Errorf("extractOfficeText = %q", got)
	}
	if _, err := extractOfficeText(context.Background(), officeDoc(t, "other.xml", "x"), Limits{}); err == nil {
		t.Error("a zip without a text member gave no error")
	}
	if _, err := extractOfficeText(context.Background(), []byte("PK\x03\x04 broken"), Limits{}); err == nil {
		t.Error("a broken zip gave no error")
	}
}
