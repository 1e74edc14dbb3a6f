package validate

import (
	"unicode/utf16"
)

// CMaps (Adobe Technical Note #5014, ISO 32000-1 §9.7.5 and §9.10.3): the
// ToUnicode map from character codes to text, and the encoding CMap of a
// composite font (codespace ranges, code → CID). Ranges are kept as ranges,
// not expanded, so a hostile <0000> <FFFFFFFF> range costs nothing.

// txCMapMaxEntries bounds the entries kept from one CMap.
const txCMapMaxEntries = 200_000

type txCodeRange struct {
	n      int // bytes per code, 1 to 4
	lo, hi [4]byte
}

type txBfRange struct {
	n      int
	lo, hi uint32
	dst    []rune   // text of lo; the last rune is incremented for lo+1…
	arr    []string // or one text per code
}

type txCIDRange struct {
	n      int
	lo, hi uint32
	cid    uint32
}

type txCMap struct {
	space     []txCodeRange
	chars     map[uint64]string // (n<<32 | code) → text
	ranges    []txBfRange
	cids      map[uint64]uint32
	cidRanges []txCIDRange
	useCMap   string // predefined parent named by usecmap
	entries   int
}

func txCodeKey(code uint32, n int) uint64 { return uint64(n)<<32 | uint64(code) }

func txBytesToCode(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 | uint32(x)
	}
	return c
}

// txUTF16Text decodes a CMap destination: UTF-16BE (§9.10.3), or single
// bytes from writers that ignore that rule.
func txUTF16Text(b []byte) []rune {
	if len(b) == 1 {
		return []rune{rune(b[0])}
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
	}
	return utf16.Decode(u)
}

// txParseCMap reads a CMap program. Unknown operators are skipped; a broken
// CMap gives a partial map, never an error.
func txParseCMap(data []byte) *txCMap {
	m := &txCMap{chars: map[uint64]string{}, cids: map[uint64]uint32{}}
	l := &txLexer{b: data}
	var prev []txTok // operands since the last operator
	for {
		t := l.next()
		switch t.kind {
		case txEOF:
			return m
		case txOp:
			switch string(t.b) {
			case "begincodespacerange":
				m.readCodespace(l)
			case "beginbfchar":
				m.readBfChar(l)
			case "beginbfrange":
				m.readBfRange(l)
			case "begincidchar":
				m.readCIDChar(l)
			case "begincidrange":
				m.readCIDRange(l)
			case "usecmap":
				if len(prev) > 0 && prev[len(prev)-1].kind == txName {
					m.useCMap = string(prev[len(prev)-1].b)
				}
			}
			prev = prev[:0]
		default:
			if len(prev) < 8 {
				prev = append(prev, t)
			}
		}
	}
}

// txSection returns the tokens up to the operator ending a section.
func txSection(l *txLexer, end string) []txTok {
	var out []txTok
	for {
		t := l.next()
		if t.kind == txEOF || t.kind == txOp && string(t.b) == end {
			return out
		}
		if t.kind == txArrOpen {
			var arr []txTok
			for {
				a := l.next()
				if a.kind == txEOF || a.kind == txArrClose {
					break
				}
				if len(arr) < 65536 {
					arr = append(arr, a)
				}
			}
			out = append(out, txTok{kind: txArrOpen, items: arr})
			continue
		}
		if len(out) < 3*txCMapMaxEntries {
			out = append(out, t)
		}
	}
}

func (m *txCMap) readCodespace(l *txLexer) {
	ts := txSection(l, "endcodespacerange")
	for i := 0; i+1 < len(ts); i += 2 {
		lo, hi := ts[i], ts[i+1]
		if lo.kind != txStr || hi.kind != txStr || len(lo.b) != len(hi.b) || len(lo.b) < 1 || len(lo.b) > 4 {
			continue
		}
		r := txCodeRange{n: len(lo.b)}
		copy(r.lo[:], lo.b)
		copy(r.hi[:], hi.b)
		if len(m.space) < 256 {
			m.space = append(m.space, r)
		}
	}
}

func (m *txCMap) readBfChar(l *txLexer) {
	ts := txSection(l, "endbfchar")
	for i := 0; i+1 < len(ts); i += 2 {
		src, dst := ts[i], ts[i+1]
		if src.kind != txStr || len(src.b) < 1 || len(src.b) > 4 || m.entries >= txCMapMaxEntries {
			continue
		}
		var text string
		switch dst.kind {
		case txStr:
			text = string(txUTF16Text(dst.b))
		case txName: // a glyph name, allowed by older CMaps
			text = txGlyphText(string(dst.b))
		default:
			continue
		}
		m.chars[txCodeKey(txBytesToCode(src.b), len(src.b))] = text
		m.entries++
	}
}

func (m *txCMap) readBfRange(l *txLexer) {
	ts := txSection(l, "endbfrange")
	for i := 0; i+2 < len(ts); i += 3 {
		lo, hi, dst := ts[i], ts[i+1], ts[i+2]
		if lo.kind != txStr || hi.kind != txStr || len(lo.b) < 1 || len(lo.b) > 4 || m.entries >= txCMapMaxEntries {
			continue
		}
		r := txBfRange{n: len(lo.b), lo: txBytesToCode(lo.b), hi: txBytesToCode(hi.b)}
		if r.hi < r.lo {
			continue
		}
		switch dst.kind {
		case txStr:
			r.dst = txUTF16Text(dst.b)
			if len(r.dst) == 0 {
				continue
			}
		case txArrOpen:
			for _, a := range dst.items {
				if a.kind == txStr {
					r.arr = append(r.arr, string(txUTF16Text(a.b)))
				} else {
					r.arr = append(r.arr, "")
				}
			}
		default:
			continue
		}
		m.ranges = append(m.ranges, r)
		m.entries++
	}
}

func (m *txCMap) readCIDChar(l *txLexer) {
	ts := txSection(l, "endcidchar")
	for i := 0; i+1 < len(ts); i += 2 {
		src, cid := ts[i], ts[i+1]
		if src.kind != txStr || cid.kind != txNum || len(src.b) < 1 || len(src.b) > 4 || m.entries >= txCMapMaxEntries || cid.num < 0 {
			continue
		}
		m.cids[txCodeKey(txBytesToCode(src.b), len(src.b))] = uint32(cid.num)
		m.entries++
	}
}

func (m *txCMap) readCIDRange(l *txLexer) {
	ts := txSection(l, "endcidrange")
	for i := 0; i+2 < len(ts); i += 3 {
		lo, hi, cid := ts[i], ts[i+1], ts[i+2]
		if lo.kind != txStr || hi.kind != txStr || cid.kind != txNum || len(lo.b) < 1 || len(lo.b) > 4 || m.entries >= txCMapMaxEntries || cid.num < 0 {
			continue
		}
		r := txCIDRange{n: len(lo.b), lo: txBytesToCode(lo.b), hi: txBytesToCode(hi.b), cid: uint32(cid.num)}
		if r.hi >= r.lo {
			m.cidRanges = append(m.cidRanges, r)
			m.entries++
		}
	}
}

// text returns the text of a code of n bytes.
func (m *txCMap) text(code uint32, n int) (string, bool) {
	if s, ok := m.chars[txCodeKey(code, n)]; ok {
		return s, true
	}
	for _, r := range m.ranges {
		if r.n != n || code < r.lo || code > r.hi {
			continue
		}
		off := code - r.lo
		if r.arr != nil {
			if int(off) < len(r.arr) {
				return r.arr[off], true
			}
			continue
		}
		out := append([]rune(nil), r.dst...)
		out[len(out)-1] += rune(off)
		return string(out), true
	}
	return "", false
}

// cid returns the CID of a code of n bytes.
func (m *txCMap) cid(code uint32, n int) (uint32, bool) {
	if c, ok := m.cids[txCodeKey(code, n)]; ok {
		return c, true
	}
	for _, r := range m.cidRanges {
		if r.n == n && code >= r.lo && code <= r.hi {
			return r.cid + code - r.lo, true
		}
	}
	return 0, false
}

// nextCode splits the next character code off b using the codespace ranges
// (§9.7.6.2): the shortest matching length wins; with no match, the
// shortest codespace length (1 byte when none are defined) is consumed so
// that decoding always moves on.
func (m *txCMap) nextCode(b []byte) (uint32, int) {
	shortest := 0
	for n := 1; n <= 4 && n <= len(b); n++ {
		for _, r := range m.space {
			if r.n != n {
				continue
			}
			if shortest == 0 || n < shortest {
				shortest = n
			}
			ok := true
			for i := 0; i < n; i++ {
				if b[i] < r.lo[i] || b[i] > r.hi[i] {
					ok = false
					break
				}
			}
			if ok {
				return txBytesToCode(b[:n]), n
			}
		}
	}
	if shortest == 0 {
		for _, r := range m.space {
			if shortest == 0 || r.n < shortest {
				shortest = r.n
			}
		}
	}
	n := max(1, min(shortest, len(b)))
	return txBytesToCode(b[:n]), n
}
