package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// Content says what the generated attachments hold.
type Content string

const (
	// ContentFiller: structurally real PDFs (catalog, page, text layer, one
	// image XObject) and JPEGs (SOI, JFIF, SOF with plausible dimensions)
	// whose image data is random bytes. Every step of the pipeline runs on
	// them (walk, sniffing, PDF structure, text, the evidence search), but
	// image decoding stops at the first bad marker, so the QR search costs
	// next to nothing: this measures the pipeline's own overhead over I/O.
	ContentFiller Content = "filler"
	// ContentDecodable: real JPEG photos (0.08 to 12 megapixels, about one
	// byte per four pixels like a phone photo) and scanned-page PDFs around
	// them. The QR search decodes every image: this is the CPU a real
	// submission costs when no evidence is found in its texts.
	ContentDecodable Content = "decodable"
)

// Options configure a Generator. The zero value is the harness's default:
// seed 0, sizes 20 KB to 5 MB, filler content.
type Options struct {
	Seed uint64
	// MinSize and MaxSize bound the size of a whole message in bytes; sizes
	// are drawn log-uniformly between them (most mail is small, a few
	// messages carry large scans). Defaults 20,000 and 5,000,000.
	MinSize, MaxSize int
	Content          Content
}

// Generator makes submissions by email: a French text body and one to three
// PDF or JPEG attachments, base64, CRLF line endings as delivered by SMTP.
// Message(i) depends only on the options and i, so a run can be repeated
// and a message regenerated instead of kept.
type Generator struct {
	o     Options
	bases []jpegBase // ContentDecodable: real photos by increasing size
}

// Message is one generated submission.
type Message struct {
	// MessageID is unique per (seed, index), without angle brackets.
	MessageID string
	// Raw is the whole RFC 5322 message.
	Raw []byte
	// Attachments is the number of documents besides the text body.
	Attachments int
}

// NewGenerator checks o and prepares the generator (ContentDecodable
// encodes its base photos now, a few seconds).
func NewGenerator(o Options) (*Generator, error) {
	if o.MinSize == 0 {
		o.MinSize = 20_000
	}
	if o.MaxSize == 0 {
		o.MaxSize = 5_000_000
	}
	if o.MinSize < 8_000 || o.MaxSize < o.MinSize {
		return nil, fmt.Errorf("bench: sizes %d..%d: want 8000 <= min <= max", o.MinSize, o.MaxSize)
	}
	if o.Content == "" {
		o.Content = ContentFiller
	}
	g := &Generator{o: o}
	switch o.Content {
	case ContentFiller:
	case ContentDecodable:
		bases, err := makeBases(o.Seed, o.MaxSize)
		if err != nil {
			return nil, err
		}
		g.bases = bases
	default:
		return nil, fmt.Errorf("bench: content %q: want filler or decodable", o.Content)
	}
	return g, nil
}

// rng returns the random source of message i: ChaCha8 keyed by the seed and
// the index, fast enough to fill megabytes of attachment data.
func (g *Generator) rng(i int) *rand.ChaCha8 {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], g.o.Seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(i))
	copy(key[16:], "recevable-bench!")
	return rand.NewChaCha8(key)
}

// Size draws the target size of message i.
func (g *Generator) Size(i int) int {
	r := rand.New(g.rng(i))
	lo, hi := math.Log(float64(g.o.MinSize)), math.Log(float64(g.o.MaxSize))
	return int(math.Exp(lo + r.Float64()*(hi-lo)))
}

// attachment kinds and the names applicants give them.
var (
	pdfNames = []string{"passeport.pdf", "acte-de-naissance.pdf", "justificatif-domicile.pdf", "attestation.pdf", "avis-imposition.pdf", "contrat-travail.pdf"}
	jpgNames = []string{"photo-identite.jpg", "titre-sejour-recto.jpg", "titre-sejour-verso.jpg", "justificatif.jpg", "IMG_2041.jpg"}
	subjects = []string{"Dépôt de ma demande de titre de séjour", "Demande de renouvellement – impossibilité de déposer en ligne", "Pièces pour mon dossier", "Demande de titre de séjour (solution de substitution)"}
	bodies   = []string{
		"Madame, Monsieur,\n\nSuite à l'impossibilité technique de déposer ma demande sur le site de l'ANEF, je vous adresse mon dossier par courriel, comme le prévoit l'arrêté du 1er août 2023.\n",
		"Bonjour,\n\nLe centre de contact citoyens m'a indiqué que je pouvais déposer ma demande par courriel. Vous trouverez ci-joint les pièces demandées.\n",
		"Madame, Monsieur,\n\nJe vous prie de trouver ci-joint les pièces justificatives de ma demande de renouvellement de titre de séjour. Le dépôt en ligne est impossible depuis plusieurs semaines.\n",
		"Bonjour,\n\nVoici mon dossier complet : passeport, justificatif de domicile, photographies d'identité.\n",
	}
	closings = []string{"\nVeuillez agréer, Madame, Monsieur, l'expression de mes salutations distinguées.\n", "\nCordialement.\n", "\nMerci d'avance pour votre aide.\n"}
)

// Message generates message i.
func (g *Generator) Message(i int) Message {
	src := g.rng(i)
	r := rand.New(src)
	lo, hi := math.Log(float64(g.o.MinSize)), math.Log(float64(g.o.MaxSize))
	target := int(math.Exp(lo + r.Float64()*(hi-lo))) // same draw as Size
	id := fmt.Sprintf("bench-%d-%d@depot.example.org", g.o.Seed, i)

	var b bytes.Buffer
	b.Grow(target + 4096)
	boundary := fmt.Sprintf("=_bench_%016x", r.Uint64())
	fmt.Fprintf(&b, "Return-Path: <demandeur%d@example.org>\r\n", i)
	fmt.Fprintf(&b, "From: Demandeur %d <demandeur%d@example.org>\r\n", i, i)
	b.WriteString("To: titres-sejour@prefecture.example\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subjects[r.IntN(len(subjects))]))
	fmt.Fprintf(&b, "Message-ID: <%s>\r\n", id)
	fmt.Fprintf(&b, "Date: Mon, 2 Mar 2026 %02d:%02d:%02d +0100\r\n", 8+i/3600%10, i/60%60, i%60)
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a multi-part message in MIME format.\r\n")

	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary)
	text := bodies[r.IntN(len(bodies))] + closings[r.IntN(len(closings))] + fmt.Sprintf("\nDemandeur %d\n", i)
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n")

	n := 1 + r.IntN(3)
	// What is left for the attachments, before base64 (4/3) and its line
	// breaks (78/76), less each part's headers.
	budget := float64(target-b.Len()-len(boundary)-8-n*200) * 3 / 4 * 76 / 78
	weights := make([]float64, n)
	var sum float64
	for k := range weights {
		weights[k] = 0.3 + r.Float64()
		sum += weights[k]
	}
	for k := range n {
		size := max(int(budget*weights[k]/sum), 2048)
		var name, ctype string
		var data []byte
		if r.IntN(2) == 0 {
			name, ctype = pdfNames[r.IntN(len(pdfNames))], "application/pdf"
			data = g.pdf(src, r, size)
		} else {
			name, ctype = jpgNames[r.IntN(len(jpgNames))], "image/jpeg"
			data = g.jpeg(src, r, size)
		}
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary, ctype, name, name)
		writeBase64(&b, data)
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return Message{MessageID: id, Raw: b.Bytes(), Attachments: n}
}

// writeBase64 writes data in lines of 76 characters, CRLF (RFC 2045 §6.8).
func writeBase64(b *bytes.Buffer, data []byte) {
	var line [76]byte
	for len(data) > 0 {
		chunk := data[:min(57, len(data))]
		data = data[len(chunk):]
		n := base64.StdEncoding.EncodedLen(len(chunk))
		base64.StdEncoding.Encode(line[:n], chunk)
		b.Write(line[:n])
		b.WriteString("\r\n")
	}
}

// jpeg returns a JPEG of about size bytes.
func (g *Generator) jpeg(src *rand.ChaCha8, r *rand.Rand, size int) []byte {
	if g.o.Content == ContentDecodable {
		return g.decodableJPEG(src, size)
	}
	return fillerJPEG(src, r, size)
}

// fillerJPEG is a JPEG header (SOI, APP0 JFIF, SOF0 with dimensions of
// about four pixels per byte) followed by random bytes and EOI: image
// decoders read its size, then fail on the data.
func fillerJPEG(src *rand.ChaCha8, r *rand.Rand, size int) []byte {
	w, h := dims(size, r)
	var b bytes.Buffer
	b.Grow(size)
	b.Write([]byte{0xFF, 0xD8})                                                            // SOI
	b.Write([]byte{0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 1, 0, 72, 0, 72, 0, 0}) // APP0 JFIF
	b.Write([]byte{0xFF, 0xC0, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3,  // SOF0, 3 components
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1})
	fill(&b, src, max(size-b.Len()-2, 16))
	b.Write([]byte{0xFF, 0xD9}) // EOI
	return b.Bytes()
}

// dims gives an image of about four pixels per byte, 4:3 one way or the
// other, within JPEG's 65,535-pixel sides.
func dims(size int, r *rand.Rand) (w, h int) {
	px := float64(size) * 4
	w = int(math.Sqrt(px * 4 / 3))
	h = int(px) / max(w, 1)
	w, h = min(max(w, 16), 65535), min(max(h, 16), 65535)
	if r.IntN(2) == 0 {
		w, h = h, w
	}
	return w, h
}

// fill appends n random bytes.
func fill(b *bytes.Buffer, src *rand.ChaCha8, n int) {
	b.Grow(n)
	buf := b.AvailableBuffer()[:n]
	src.Read(buf)
	b.Write(buf)
}

// pdf returns a one-page PDF of about size bytes: a text line and one
// image XObject drawn over the page, like a scanned document with an OCR
// layer. Its image is fillerJPEG or a real photo (ContentDecodable).
func (g *Generator) pdf(src *rand.ChaCha8, r *rand.Rand, size int) []byte {
	img := g.jpeg(src, r, max(size-900, 1024))
	w, h := jpegDims(img)
	var b bytes.Buffer
	b.Grow(len(img) + 2048)
	var offs []int
	obj := func(body string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), body)
	}
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im0 5 0 R >> /Font << /F1 6 0 R >> >> /Contents 4 0 R >>")
	content := fmt.Sprintf("q 523 0 0 %d 36 40 cm /Im0 Do Q\nBT /F1 11 Tf 36 810 Td (Piece justificative %08x) Tj ET\n", min(740, 523*h/max(w, 1)), r.Uint32())
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(content), content))
	offs = append(offs, b.Len())
	fmt.Fprintf(&b, "5 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n", w, h, len(img))
	b.Write(img)
	b.WriteString("\nendstream\nendobj\n")
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}

// jpegDims reads the dimensions of the first SOF0 of a JPEG made here.
func jpegDims(img []byte) (w, h int) {
	for i := 2; i+9 < len(img); {
		if img[i] != 0xFF {
			break
		}
		marker := img[i+1]
		n := int(img[i+2])<<8 | int(img[i+3])
		if marker == 0xC0 {
			return int(img[i+7])<<8 | int(img[i+8]), int(img[i+5])<<8 | int(img[i+6])
		}
		i += 2 + n
	}
	return 1, 1
}
