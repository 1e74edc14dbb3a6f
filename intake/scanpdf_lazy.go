package intake

import (
	"fmt"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// pdfcpu loads every stream of a PDF when it reads it, so a 200-page batch
// scanned at 300 dpi would sit whole in memory while its pages are decoded
// one by one. Once read, the page images' encoded bytes are therefore let
// go from pdfcpu's model, with their place in the file kept (streamLoc);
// a page's image is read from the file when the page is decoded, and put
// back into the model only while a letter holding it is written.

// lazyMinBytes: smaller image streams stay in memory (not worth a read).
const lazyMinBytes = 64 << 10

// gcAfterBytes: OpenScan collects garbage when it let go of this much.
const gcAfterBytes = 64 << 20

// lazyBytes is the size of the image streams let go.
func (s *Scan) lazyBytes() int64 {
	var n int64
	for _, l := range s.lazy {
		n += int64(l.n)
	}
	return n
}

// streamLoc is where an image stream's encoded bytes are in the file.
type streamLoc struct {
	off int64
	n   int
}

// pageImage is an image XObject drawn by a page.
type pageImage struct {
	objNr         int // 0 for a direct object
	name          string
	width, height int
	sd            types.StreamDict // without Raw when let go
}

// indexPagesLocked finds every page's images and lets go of the encoded
// bytes of the large ones (not for an encrypted PDF, whose bytes in the
// file are not those in the model).
func (s *Scan) indexPagesLocked() error {
	pc := s.pc
	s.pages = make([][]pageImage, pc.PageCount)
	s.lazy = map[int]streamLoc{}
	for page := 1; page <= pc.PageCount; page++ {
		pageDict, _, inh, err := pc.PageDict(page, false)
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		var res types.Dict
		if o, found := pageDict.Find("Resources"); found {
			res, _ = pc.DereferenceDict(o)
		}
		if res == nil && inh != nil {
			res = inh.Resources // inherited from the page tree
		}
		if res == nil {
			continue
		}
		xo, found := res.Find("XObject")
		if !found {
			continue
		}
		xobjects, err := pc.DereferenceDict(xo)
		if err != nil || xobjects == nil {
			continue
		}
		for name, o := range xobjects {
			sd, _, err := pc.DereferenceStreamDict(o)
			if err != nil || sd == nil {
				continue
			}
			if st := sd.NameEntry("Subtype"); st == nil || *st != "Image" {
				continue
			}
			img := pageImage{name: name, width: intEntry(pc, sd.Dict, "Width"), height: intEntry(pc, sd.Dict, "Height")}
			if ref, ok := o.(types.IndirectRef); ok {
				img.objNr = ref.ObjectNumber.Value()
			}
			if img.objNr != 0 && pc.Encrypt == nil && len(sd.Raw) >= lazyMinBytes {
				if _, done := s.lazy[img.objNr]; !done {
					s.lazy[img.objNr] = streamLoc{off: sd.StreamOffset, n: len(sd.Raw)}
					s.setRawLocked(img.objNr, nil)
				}
			}
			if e, ok := pc.Find(img.objNr); ok && img.objNr != 0 {
				img.sd, _ = e.Object.(types.StreamDict)
			} else {
				img.sd = *sd
			}
			s.pages[page-1] = append(s.pages[page-1], img)
		}
	}
	return nil
}

// setRawLocked replaces the encoded bytes of stream objNr in the model.
func (s *Scan) setRawLocked(objNr int, raw []byte) {
	e, ok := s.pc.Find(objNr)
	if !ok {
		return
	}
	if sd, ok := e.Object.(types.StreamDict); ok {
		sd.Raw = raw
		e.Object = sd
	}
}

// raw returns an image's encoded bytes, from the file when they were let
// go. Safe without the lock: it reads the file with ReadAt.
func (s *Scan) raw(img pageImage) ([]byte, error) {
	if img.sd.Raw != nil {
		return img.sd.Raw, nil
	}
	loc, ok := s.lazy[img.objNr]
	if !ok {
		return nil, nil
	}
	b := make([]byte, loc.n)
	if _, err := s.in.ReadAt(b, loc.off); err != nil {
		return nil, fmt.Errorf("image obj#%d: read at %d: %w", img.objNr, loc.off, err)
	}
	return b, nil
}

// restoreLocked puts the encoded bytes of the pages' images back into the
// model and returns their object numbers, for dropLocked.
func (s *Scan) restoreLocked(pages []int) ([]int, error) {
	var objs []int
	for _, p := range pages {
		for _, img := range s.pages[p-1] {
			if _, ok := s.lazy[img.objNr]; !ok {
				continue
			}
			b, err := s.raw(img)
			if err != nil {
				return objs, err
			}
			s.setRawLocked(img.objNr, b)
			objs = append(objs, img.objNr)
		}
	}
	return objs, nil
}

// dropLocked lets go of the encoded bytes restoreLocked put back.
func (s *Scan) dropLocked(objs []int) {
	for _, n := range objs {
		s.setRawLocked(n, nil)
	}
}
