package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Active content in a PDF: JavaScript, launch actions, embedded files,
// RichMedia, XFA forms. It is found by walking every object of the
// cross-reference table, not by following the catalog: an action can hang
// from an annotation, a form field, a page's /AA, an outline item or an
// object no page points to, and a viewer may still run it. Objects inside
// object streams are decoded for the walk (pdfcpu loads them lazily).

// chkActiveMaxNodes bounds the walk: a table of millions of tiny objects is
// not worth more than this many visits.
const chkActiveMaxNodes = 2_000_000

// chkActiveFinder collects the codes found and where.
type chkActiveFinder struct {
	where map[string][]int // problem code → object numbers (first few)
	nodes int
}

func (f *chkActiveFinder) hit(code string, objNr int) {
	if f.where == nil {
		f.where = map[string][]int{}
	}
	if l := f.where[code]; len(l) < 5 && !slices.Contains(l, objNr) {
		f.where[code] = append(l, objNr)
	}
}

// chkActiveTable walks every object of xt and reports active content, in a
// stable order.
func chkActiveTable(ctx context.Context, xt *model.XRefTable) []Problem {
	var f chkActiveFinder
	nums := make([]int, 0, len(xt.Table))
	for n := range xt.Table {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for i, n := range nums {
		if i%512 == 0 && ctx.Err() != nil {
			return nil
		}
		if f.nodes > chkActiveMaxNodes {
			break
		}
		e := xt.Table[n]
		if e == nil || e.Free || e.Object == nil {
			continue
		}
		o := e.Object
		if _, lazy := o.(types.LazyObjectStreamObject); lazy {
			d, err := xt.Dereference(*types.NewIndirectRef(n, 0))
			if err != nil {
				continue // undecodable: the raw scan still sees its bytes if uncompressed
			}
			o = d
		}
		f.walk(o, n, 0)
	}
	return f.problems("")
}

// walk visits o and the direct objects inside it. Indirect references are
// not followed: each indirect object is visited from the table.
func (f *chkActiveFinder) walk(o types.Object, objNr, depth int) {
	f.nodes++
	if depth > 64 || f.nodes > chkActiveMaxNodes {
		return
	}
	switch o := o.(type) {
	case types.Dict:
		f.inspect(o, objNr)
		for _, v := range o {
			f.walk(v, objNr, depth+1)
		}
	case types.StreamDict:
		f.inspect(o.Dict, objNr)
		for _, v := range o.Dict {
			f.walk(v, objNr, depth+1)
		}
	case types.Array:
		for _, v := range o {
			f.walk(v, objNr, depth+1)
		}
	}
}

// inspect checks one dictionary (ISO 32000-1 §12.6.4 action types, §7.11
// file specifications, §12.5.6.15 file attachment annotations; ISO 32000-2
// §13.7 RichMedia; §12.7.8 XFA).
func (f *chkActiveFinder) inspect(d types.Dict, objNr int) {
	name := func(key string) string {
		if n, ok := d[key].(types.Name); ok {
			return n.Value()
		}
		return ""
	}
	has := func(key string) bool { _, ok := d[key]; return ok }
	s, typ, sub := name("S"), name("Type"), name("Subtype")
	// Containers (the /JavaScript and /EmbeddedFiles name trees) are not
	// reported by themselves: fpdf writes an empty /EmbeddedFiles in every
	// file. What they contain is.
	if s == "JavaScript" || has("JS") {
		f.hit(ProblemPDFJavaScript, objNr)
	}
	if s == "Launch" {
		f.hit(ProblemPDFLaunchAction, objNr)
	}
	if typ == "EmbeddedFile" || has("EF") || sub == "FileAttachment" {
		f.hit(ProblemPDFEmbeddedFile, objNr)
	}
	if sub == "RichMedia" || sub == "Flash" || has("RichMediaContent") {
		f.hit(ProblemPDFRichMedia, objNr)
	}
	if has("XFA") {
		f.hit(ProblemPDFXFA, objNr)
	}
}

// chkActiveCodes is the reporting order.
var chkActiveCodes = []string{ProblemPDFJavaScript, ProblemPDFLaunchAction, ProblemPDFEmbeddedFile, ProblemPDFRichMedia, ProblemPDFXFA}

func (f *chkActiveFinder) problems(how string) []Problem {
	var ps []Problem
	for _, code := range chkActiveCodes {
		objs, ok := f.where[code]
		if !ok {
			continue
		}
		detail := how
		if len(objs) > 0 && objs[0] >= 0 {
			parts := make([]string, len(objs))
			for i, n := range objs {
				parts[i] = fmt.Sprint(n)
			}
			detail = "objects " + strings.Join(parts, ", ")
		}
		ps = append(ps, docProblem(code, detail))
	}
	return ps
}

// chkActiveTokens are the names whose presence in the raw bytes means
// active content, whatever the parser made of the file.
var chkActiveTokens = []struct{ tok, code string }{
	{"/JS", ProblemPDFJavaScript},
	{"/Launch", ProblemPDFLaunchAction},
	{"/EmbeddedFile", ProblemPDFEmbeddedFile}, // the stream type; /EmbeddedFiles is another name
	{"/FileAttachment", ProblemPDFEmbeddedFile},
	{"/RichMedia", ProblemPDFRichMedia},
	{"/XFA", ProblemPDFXFA},
}

// chkActiveRaw scans the raw bytes for the names of active content. It sees
// what sits outside compressed streams, including objects the parser skipped
// or never reached, and files it could not parse at all. It cannot see
// names hidden in object streams or written with #xx escapes: the table walk
// covers those.
func chkActiveRaw(ctx context.Context, r io.ReaderAt, size int64) ([]Problem, error) {
	const chunk, overlap = 1 << 20, 32
	var f chkActiveFinder
	buf := make([]byte, chunk+overlap)
	for off := int64(0); off < size; off += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("check pdf: raw scan at %d: %w", off, err)
		}
		for _, t := range chkActiveTokens {
			if chkHasName(buf[:n], t.tok, off+int64(n) >= size) {
				f.hit(t.code, -1)
			}
		}
	}
	return f.problems("name found in the raw bytes"), nil
}
