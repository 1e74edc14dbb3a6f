package validate

import "math"

// Text drawn by annotations: filled form fields, free-text notes, stamps.
// Viewers draw their appearance streams over the page, and so does
// pdftotext; an applicant who typed an invitation reference into a form
// field expects it to be read.

// txMaxAnnots bounds the annotations read on one page.
const txMaxAnnots = 2000

// annotations draws the normal appearance of each visible annotation of a
// page (ISO 32000-1 §12.5.5).
func (x *txExtractor) annotations(pg chkPDFPage, p *txPage) {
	annots, _ := x.xt.DereferenceArray(pg.dict["Annots"])
	for i, o := range annots {
		if i >= txMaxAnnots || x.stopped || p.full {
			return
		}
		a, _ := x.xt.DereferenceDict(o)
		if a == nil || txNameOf(x.xt, a["Subtype"]) == "Popup" {
			continue
		}
		if fl := a.IntEntry("F"); fl != nil && *fl&2 != 0 { // Hidden
			continue
		}
		ap, _ := x.xt.DereferenceDict(a["AP"])
		n, ok := ap.Find("N")
		if !ok {
			continue
		}
		// /N is a stream, or a dictionary of streams by state (/AS).
		if states, err := x.xt.DereferenceDict(n); err == nil && states != nil {
			n, ok = states.Find(txNameOf(x.xt, a["AS"]))
			if !ok {
				continue
			}
		}
		sd, _, err := x.xt.DereferenceStreamDict(n)
		if err != nil || sd == nil {
			continue
		}
		rect := chkRect(x.xt, a["Rect"])
		bbox := chkRect(x.xt, sd.Dict["BBox"])
		if rect == nil || bbox == nil {
			continue
		}
		x.drawForm(n, pg.res, txFitBox(x.formMatrix(sd.Dict), *bbox, *rect), txIdentity, 0, p, map[int]bool{})
	}
}

// txFitBox returns the matrix A of §12.5.5 that maps the form's bounding
// box, transformed by its matrix, onto the annotation rectangle.
func txFitBox(m txMatrix, bbox, rect [4]float64) txMatrix {
	xs, ys := []float64{}, []float64{}
	for _, c := range [][2]float64{{bbox[0], bbox[1]}, {bbox[2], bbox[1]}, {bbox[0], bbox[3]}, {bbox[2], bbox[3]}} {
		px, py := m.apply(c[0], c[1])
		xs, ys = append(xs, px), append(ys, py)
	}
	x0, x1 := txMinMax(xs)
	y0, y1 := txMinMax(ys)
	sx, sy := 1.0, 1.0
	if x1 > x0 {
		sx = (rect[2] - rect[0]) / (x1 - x0)
	}
	if y1 > y0 {
		sy = (rect[3] - rect[1]) / (y1 - y0)
	}
	return txMatrix{sx, 0, 0, sy, rect[0] - x0*sx, rect[1] - y0*sy}
}

func txMinMax(v []float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}
