package bench

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"sync"
)

// jpegBase is a real photo-like JPEG the decodable attachments are made of.
type jpegBase struct {
	data []byte
	w, h int
}

// baseSides are the photos of ContentDecodable, 0.08 to 12 megapixels:
// a thumbnail, webcam, old phones, a 12 MP phone camera.
var baseSides = [][2]int{{320, 240}, {640, 480}, {1024, 768}, {1600, 1200}, {2048, 1536}, {2592, 1944}, {3264, 2448}, {4000, 3000}}

// makeBases encodes one photo-like image per size: smooth light and colour
// gradients, a few darker blocks (a document held in front of the camera)
// and sensor-like noise, at quality 85, which compresses to about a
// quarter of a byte per pixel, the range of phone photos. Only the photos
// that can fit in a message of maxSize bytes are made, and they are kept per
// seed: encoding the largest takes seconds.
func makeBases(seed uint64, maxSize int) ([]jpegBase, error) {
	n := 1
	for n < len(baseSides) && baseSides[n][0]*baseSides[n][1]/5 <= maxSize {
		n++
	}
	basesMu.Lock()
	defer basesMu.Unlock()
	if b := basesBySeed[seed]; len(b) >= n {
		return b[:n], nil
	}
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var out []jpegBase
	for _, s := range baseSides[:n] {
		w, h := s[0], s[1]
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		type block struct{ x0, y0, x1, y1 int }
		var blocks []block
		for range 6 {
			x0, y0 := r.IntN(w), r.IntN(h)
			blocks = append(blocks, block{x0, y0, x0 + w/8 + r.IntN(w/4), y0 + h/16 + r.IntN(h/8)})
		}
		fx, fy := 2*math.Pi/float64(w)*(1+r.Float64()), 2*math.Pi/float64(h)*(1+r.Float64())
		for y := range h {
			for x := range w {
				v := 128 + 60*math.Sin(float64(x)*fx)*math.Cos(float64(y)*fy)
				for _, bl := range blocks {
					if x >= bl.x0 && x < bl.x1 && y >= bl.y0 && y < bl.y1 {
						v -= 70
					}
				}
				v += float64(r.IntN(25)) - 12
				img.Y[y*img.YStride+x] = uint8(min(max(v, 0), 255))
			}
		}
		for y := range (h + 1) / 2 {
			for x := range (w + 1) / 2 {
				i := y*img.CStride + x
				img.Cb[i] = uint8(128 + 20*math.Sin(float64(x)*fx*2))
				img.Cr[i] = uint8(128 + 20*math.Cos(float64(y)*fy*2))
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
			return nil, fmt.Errorf("bench: encode %dx%d photo: %w", w, h, err)
		}
		out = append(out, jpegBase{data: b.Bytes(), w: w, h: h})
	}
	basesBySeed[seed] = out
	return out, nil
}

var (
	basesMu     sync.Mutex
	basesBySeed = map[uint64][]jpegBase{}
)

// decodableJPEG returns the largest base photo that fits in size (the
// smallest when none does), made unique by a comment segment of random
// bytes and padded with comment segments up to size, which decoders skip.
func (g *Generator) decodableJPEG(src *rand.ChaCha8, size int) []byte {
	base := g.bases[0]
	for _, b := range g.bases {
		if len(b.data)+64 <= size {
			base = b
		}
	}
	var b bytes.Buffer
	b.Grow(max(size, len(base.data)+64))
	b.Write([]byte{0xFF, 0xD8})
	pad := max(size-len(base.data)-4, 32)
	for pad > 0 {
		n := min(pad, 65533)
		b.Write([]byte{0xFF, 0xFE, byte((n + 2) >> 8), byte(n + 2)}) // COM
		fill(&b, src, n)
		pad -= n + 4
	}
	b.Write(base.data[2:]) // after its SOI
	return b.Bytes()
}
