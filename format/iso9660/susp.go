package iso9660

// The System Use Sharing Protocol (SUSP 1.12): a record's system use area
// is a run of entries, each
//
//	0 signature[2]  2 length (the whole entry)  3 version  4 data
//
// An area may go on in a continuation area (CE) elsewhere on the volume.
// The root's "." record starts with SP, which says how many bytes to skip
// at the start of every other area (LEN_SKP) and that SUSP is in use; ER
// names the extensions (Rock Ridge: "RRIP_1991A", "IEEE_P1282",
// "IEEE_1282"); ST ends an area early; PD is padding.

// Sig is an entry's signature as Linux's SIG macro packs it: the first
// byte low.
type Sig uint16

// MakeSig packs a two-letter signature.
func MakeSig(a, b byte) Sig { return Sig(a) | Sig(b)<<8 }

func (s Sig) String() string { return string([]byte{byte(s), byte(s >> 8)}) }

// Signatures of SUSP (SUSP §5) and RRIP (RRIP §4.1) entries, and zisofs's ZF.
var (
	SigCE = MakeSig('C', 'E')
	SigPD = MakeSig('P', 'D')
	SigSP = MakeSig('S', 'P')
	SigST = MakeSig('S', 'T')
	SigER = MakeSig('E', 'R')
	SigES = MakeSig('E', 'S')
	SigRR = MakeSig('R', 'R')
	SigPX = MakeSig('P', 'X')
	SigPN = MakeSig('P', 'N')
	SigSL = MakeSig('S', 'L')
	SigNM = MakeSig('N', 'M')
	SigCL = MakeSig('C', 'L')
	SigPL = MakeSig('P', 'L')
	SigRE = MakeSig('R', 'E')
	SigTF = MakeSig('T', 'F')
	SigSF = MakeSig('S', 'F')
	SigZF = MakeSig('Z', 'F')
)

// EntryHeaderSize is the signature, length and version.
const EntryHeaderSize = 4

// Entry is one SUSP entry: its signature, version and data (the bytes
// after the four of the header).
type Entry struct {
	Sig     Sig
	Version uint8
	Data    []byte
	// Tail is Data and the rest of the area after it, for the decoders
	// that read past an entry's end where Linux does (DecodeSL); nil
	// for an entry made by hand, which has only Data.
	Tail []byte
}

// NextEntry returns the entry at the start of area and the rest of the
// area after it. ok is false at the end of the area: fewer than three
// bytes left (SUSP lets one byte of padding end an area; Linux's loop
// stops "while (len > 2)"), or an ST entry. A length under 4 or running
// past the area is EUCLEAN; Linux stops reading the area there ("Something
// got screwed up"), and a caller wanting Linux's view does too, keeping
// the entries before.
func NextEntry(area []byte) (e Entry, rest []byte, ok bool, err error) {
	if len(area) <= 2 {
		return e, nil, false, nil
	}
	n := int(area[2])
	if n < 3 {
		return e, nil, false, corrupt("SUSP entry %q: length %d", area[:2], n)
	}
	if n > len(area) {
		return e, nil, false, corrupt("SUSP entry %q: length %d, beyond the %d bytes of the area", area[:2], n, len(area))
	}
	e.Sig = MakeSig(area[0], area[1])
	if n >= EntryHeaderSize {
		e.Version = area[3]
		e.Data = area[EntryHeaderSize:n]
		e.Tail = area[EntryHeaderSize:]
	}
	if e.Sig == SigST {
		return e, nil, false, nil
	}
	return e, area[n:], true, nil
}

// minData is the least data each entry this package decodes must hold,
// as Linux's rock_check_overflow requires (else it refuses the record).
var minData = map[Sig]int{
	SigSP: 3, SigCE: 24, SigER: 4, SigRR: 1, SigPX: 32, SigPN: 16,
	SigSL: 1, SigNM: 1, SigCL: 8, SigPL: 8, SigTF: 1, SigZF: 12,
}

// CheckLength returns EUCLEAN when e is shorter than its signature's
// fixed part (rock_check_overflow).
func (e Entry) CheckLength() error { return e.need(e.Sig) }

// need checks that e holds the fixed part of a sig entry, which the
// decoder of sig reads (whatever e's own signature).
func (e Entry) need(sig Sig) error {
	if m := minData[sig]; len(e.Data) < m {
		return corrupt("SUSP entry %v: %d bytes of data, under the %d of %v", e.Sig, len(e.Data), m, sig)
	}
	return nil
}

// SP is the SUSP indicator (SUSP §5.3): check bytes BE EF and LEN_SKP.
type SP struct{ Skip uint8 }

// DecodeSP decodes an SP entry; its check bytes must be BE EF.
func DecodeSP(e Entry) (SP, error) {
	if err := e.need(SigSP); err != nil {
		return SP{}, err
	}
	if e.Data[0] != 0xBE || e.Data[1] != 0xEF {
		return SP{}, corrupt("SP entry: check bytes %02x %02x, want be ef", e.Data[0], e.Data[1])
	}
	return SP{Skip: e.Data[2]}, nil
}

// CE is a continuation area (SUSP §5.1): the area goes on at Offset bytes
// into logical block Block, for Length bytes.
type CE struct {
	Block, Offset, Length uint32
}

// DecodeCE decodes a CE entry.
func DecodeCE(e Entry) (CE, error) {
	if err := e.need(SigCE); err != nil {
		return CE{}, err
	}
	return CE{Block: both733(e.Data[0:]), Offset: both733(e.Data[8:]), Length: both733(e.Data[16:])}, nil
}

// ER is an extensions reference (SUSP §5.5): the identifier, descriptor
// and source of an extension, and its version.
type ER struct {
	ID, Descriptor, Source string
	Version                uint8
}

// DecodeER decodes an ER entry.
func DecodeER(e Entry) (ER, error) {
	if err := e.need(SigER); err != nil {
		return ER{}, err
	}
	lid, ldes, lsrc := int(e.Data[0]), int(e.Data[1]), int(e.Data[2])
	if 4+lid+ldes+lsrc > len(e.Data) {
		return ER{}, corrupt("ER entry: %d+%d+%d bytes of text in %d", lid, ldes, lsrc, len(e.Data)-4)
	}
	t := e.Data[4:]
	return ER{ID: string(t[:lid]), Descriptor: string(t[lid : lid+ldes]), Source: string(t[lid+ldes : lid+ldes+lsrc]), Version: e.Data[3]}, nil
}
