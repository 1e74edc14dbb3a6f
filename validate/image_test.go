package validate

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// testImage is a small image with some structure, so that codecs have
// something to compress.
func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	return img
}

func encode(t testing.TB, enc func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk writes one PNG chunk with its CRC (PNG spec §5.3).
func pngChunk(b *bytes.Buffer, typ string, data []byte) {
	binary.Write(b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// pngBomb is a 200-byte PNG that declares w×h pixels: decoding it would
// allocate w×h×4 bytes before finding out the data is missing.
func pngBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	pngChunk(&b, "IHDR", ihdr)
	pngChunk(&b, "IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	pngChunk(&b, "IEND", nil)
	return b.Bytes()
}

func TestCheckImage(t *testing.T) {
	t.Parallel()
	img := testImage(64, 48)
	jpg := encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) })
	pngData := encode(t, func(b *bytes.Buffer) error { return png.Encode(b, img) })
	webp, err := os.ReadFile(filepath.Join(moduleDir(t, "github.com/pdfcpu/pdfcpu"), "pkg", "testdata", "resources", "mountain.webp"))
	if err != nil {
		t.Fatal(err)
	}
	heic := append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...)
	tests := []struct {
		name, file string
		data       []byte
		want       []string
		w, h       int
	}{
		{name: "jpeg", file: "photo.jpg", data: jpg, w: 64, h: 48},
		{name: "png", file: "scan.png", data: pngData, w: 64, h: 48},
		{name: "gif", file: "a.gif", data: encode(t, func(b *bytes.Buffer) error { return gif.Encode(b, img, nil) }), w: 64, h: 48},
		{name: "tiff", file: "scan.tif", data: encode(t, func(b *bytes.Buffer) error { return tiff.Encode(b, img, &tiff.Options{Compression: tiff.Deflate}) }), w: 64, h: 48},
		{name: "bmp", file: "a.bmp", data: encode(t, func(b *bytes.Buffer) error { return bmp.Encode(b, img) }), w: 64, h: 48},
		{name: "webp", file: "a.webp", data: webp, w: 1667, h: 2646}, // as file(1) reads its VP8 header
		{name: "png named jpg", file: "photo.jpg", data: pngData, w: 64, h: 48},
		{name: "truncated jpeg", file: "photo.jpg", data: jpg[:len(jpg)*2/3], want: []string{ProblemImageUndecodable}, w: 64, h: 48},
		{name: "truncated png", file: "scan.png", data: pngData[:len(pngData)-40], want: []string{ProblemImageUndecodable}, w: 64, h: 48},
		{name: "jpeg header only", file: "photo.jpg", data: jpg[:20], want: []string{ProblemImageUndecodable}},
		{name: "png bomb 60000x60000", file: "scan.png", data: pngBomb(60000, 60000), want: []string{ProblemImageTooLarge}, w: 60000, h: 60000},
		{name: "png 51 MP", file: "scan.png", data: pngBomb(10200, 5000), want: []string{ProblemImageTooLarge}, w: 10200, h: 5000},
		{name: "png zero width", file: "scan.png", data: pngBomb(0, 10), want: []string{ProblemImageUndecodable}},
		{name: "heic", file: "IMG_0001.HEIC", data: heic, want: []string{ProblemImageUnsupported}},
		{name: "svg", file: "logo.svg", data: []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), want: []string{ProblemImageUnsupported}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := check(t, tc.data, DocInfo{Name: tc.file})
			if got := res.Codes(); !slices.Equal(got, tc.want) {
				t.Fatalf("CheckDocument(%s) problems = %v, want %v (%+v)", tc.name, got, tc.want, res.Problems)
			}
			if res.Width != tc.w || res.Height != tc.h {
				t.Errorf("CheckDocument(%s) size = %d×%d, want %d×%d", tc.name, res.Width, res.Height, tc.w, tc.h)
			}
		})
	}
}

// The megapixel limit is configurable; at the limit the image is decoded.
func TestCheckImageLimit(t *testing.T) {
	t.Parallel()
	data := encode(t, func(b *bytes.Buffer) error { return png.Encode(b, testImage(1000, 1000)) })
	for _, tc := range []struct {
		mp   float64
		want []string
	}{{1, nil}, {0.99, []string{ProblemImageTooLarge}}} {
		res, err := CheckDocument(t.Context(), bytes.NewReader(data), int64(len(data)), DocInfo{Name: "a.png"}, Limits{MaxMegapixels: tc.mp})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Codes(), tc.want) {
			t.Errorf("CheckDocument(1 MP, limit %v MP) = %v, want %v", tc.mp, res.Codes(), tc.want)
		}
	}
}
