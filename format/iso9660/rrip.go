package iso9660

// Rock Ridge entries (RRIP 1.12 §4.1; Linux's rock.h).

// PX is the POSIX file attributes entry (RRIP §4.1.1): st_mode, st_nlink,
// st_uid, st_gid, and in RRIP 1.12 st_ino (the file serial number, which
// Linux does not use: its inode numbers come from record positions).
type PX struct {
	Mode, Nlink, Uid, Gid uint32
	Ino                   uint32
	HasIno                bool
}

// DecodePX decodes a PX entry (36 or 44 bytes).
func DecodePX(e Entry) (PX, error) {
	if err := e.need(SigPX); err != nil {
		return PX{}, err
	}
	d := e.Data
	px := PX{Mode: both733(d[0:]), Nlink: both733(d[8:]), Uid: both733(d[16:]), Gid: both733(d[24:])}
	if len(d) >= 40 {
		px.Ino, px.HasIno = both733(d[32:]), true
	}
	return px, nil
}

// PN is the POSIX device number entry (RRIP §4.1.2): its high and low
// 32 bits.
type PN struct{ High, Low uint32 }

// DecodePN decodes a PN entry.
func DecodePN(e Entry) (PN, error) {
	if err := e.need(SigPN); err != nil {
		return PN{}, err
	}
	return PN{High: both733(e.Data[0:]), Low: both733(e.Data[8:])}, nil
}

// Device returns the major and minor numbers as Linux reads PN: the high
// and low words, unless high is 0 and low has bits above its low byte,
// which writers for a 32-bit dev_t put whole in low (old major<<8|minor).
func (pn PN) Device() (major, minor uint32) {
	if pn.Low&^0xff != 0 && pn.High == 0 {
		return pn.Low >> 8, pn.Low & 0xff
	}
	return pn.High, pn.Low
}

// SL flags (RRIP §4.1.3): the entry's CONTINUE says the link goes on in
// the next SL entry; a component's flags say what it is.
const (
	SLContinue = 0x01 // the entry, or the component, goes on in the next
	SLCurrent  = 0x02 // "."
	SLParent   = 0x04 // ".."
	SLRoot     = 0x08 // "/"
)

// SL is a symbolic link entry: its flags and its component records.
type SL struct {
	Flags      uint8
	Components []SLComponent
}

// SLComponent is one component record of an SL entry: flags, then its text.
type SLComponent struct {
	Flags uint8
	Text  []byte
}

// DecodeSL decodes an SL entry. Linux's loop (get_symlink_chunk) reads
// components while two bytes or more of the entry are left, and copies
// each component's text whole, even past the entry's end: genisoimage
// writes an SL entry of more than 255 bytes with its length byte
// wrapped (465 as 209), and Linux reads the components that start within
// those 209 bytes. So does this decoder, from the rest of the area
// (Entry.Tail); a component whose text runs past the area is EUCLEAN.
func DecodeSL(e Entry) (SL, error) {
	if err := e.need(SigSL); err != nil {
		return SL{}, err
	}
	sl := SL{Flags: e.Data[0]}
	room := e.Tail
	if len(room) < len(e.Data) {
		room = e.Data
	}
	room = room[1:]
	for off, slen := 0, len(e.Data)-1; slen > 1; {
		n := int(room[off+1])
		if off+2+n > len(room) {
			return SL{}, corrupt("SL entry: component of %d bytes, %d left", n, len(room)-off-2)
		}
		sl.Components = append(sl.Components, SLComponent{Flags: room[off], Text: room[off+2 : off+2+n]})
		off += 2 + n
		slen -= 2 + n
	}
	return sl, nil
}

// AppendTarget appends the entry's part of a link target to dst as
// Linux's get_symlink_chunk does: "." for CURRENT, ".." for PARENT, "/"
// for ROOT, the text otherwise (flags it does not know add nothing); a
// "/" after every component that neither continues nor is the root, save
// the entry's last, which gets one only when the entry continues. ok is
// false when the target would reach max bytes.
func (sl SL) AppendTarget(dst []byte, max int) (out []byte, ok bool) {
	for i, c := range sl.Components {
		root := false
		switch c.Flags &^ SLContinue {
		case 0:
			dst = append(dst, c.Text...)
		case SLCurrent:
			dst = append(dst, '.')
		case SLParent:
			dst = append(dst, '.', '.')
		case SLRoot:
			root = true
			dst = append(dst, '/')
		}
		last := i == len(sl.Components)-1
		if !root && c.Flags&SLContinue == 0 && (!last || sl.Flags&SLContinue != 0) {
			dst = append(dst, '/')
		}
		if len(dst) >= max {
			return dst, false
		}
	}
	return dst, true
}

// NM flags (RRIP §4.1.4).
const (
	NMContinue = 0x01
	NMCurrent  = 0x02
	NMParent   = 0x04
)

// NM is an alternate name entry: flags and a piece of the name.
type NM struct {
	Flags uint8
	Name  []byte
}

// DecodeNM decodes an NM entry.
func DecodeNM(e Entry) (NM, error) {
	if err := e.need(SigNM); err != nil {
		return NM{}, err
	}
	return NM{Flags: e.Data[0], Name: e.Data[1:]}, nil
}

// TF flags (RRIP §4.1.6): which time stamps follow, in this order, and
// whether they are in the 17-byte form.
const (
	TFCreate     = 0x01
	TFModify     = 0x02
	TFAccess     = 0x04
	TFAttributes = 0x08
	TFBackup     = 0x10
	TFExpiration = 0x20
	TFEffective  = 0x40
	TFLongForm   = 0x80
)

// TF is a time stamps entry: the stamps its flags name, decoded.
type TF struct {
	Flags uint8
	// Times holds a stamp for each of the seven kinds, by bit number
	// (Times[1] is TFModify's), valid where Flags has the bit.
	Times [7]Time
}

// DecodeTF decodes a TF entry. When the entry is too short for a stamp
// its flags name, the stamps before it are returned, their flags alone
// kept, with an EUCLEAN error: Linux reads the stamps that fit.
func DecodeTF(e Entry) (TF, error) {
	if err := e.need(SigTF); err != nil {
		return TF{}, err
	}
	tf := TF{Flags: e.Data[0]}
	size := DateLen
	if tf.Flags&TFLongForm != 0 {
		size = LongDateLen
	}
	p := e.Data[1:]
	for bit := range 7 {
		if tf.Flags&(1<<bit) == 0 {
			continue
		}
		if len(p) < size {
			tf.Flags &= uint8(1<<bit-1) | TFLongForm
			return tf, corrupt("TF entry: no room for time stamp %d", bit)
		}
		if size == DateLen {
			tf.Times[bit] = DecodeDate(p)
		} else {
			tf.Times[bit] = DecodeLongDate(p)
		}
		p = p[size:]
	}
	return tf, nil
}

// DecodeLocation decodes a CL or PL entry: the logical block of the
// relocated directory (CL, RRIP §4.1.5.1) or of the real parent (PL,
// §4.1.5.2).
func DecodeLocation(e Entry) (uint32, error) {
	if err := e.need(SigCL); err != nil {
		return 0, err
	}
	return both733(e.Data), nil
}

// ZF is zisofs's entry (not part of RRIP; zisofs-tools' README): the
// algorithm ("pz" for zisofs's zlib blocks), the file header's size in
// 4-byte units, log2 of the block size, and the uncompressed size.
type ZF struct {
	Algorithm  [2]byte
	HeaderSize uint8 // in 4-byte units
	BlockShift uint8
	Size       uint32
}

// DecodeZF decodes a ZF entry.
func DecodeZF(e Entry) (ZF, error) {
	if err := e.need(SigZF); err != nil {
		return ZF{}, err
	}
	d := e.Data
	return ZF{Algorithm: [2]byte{d[0], d[1]}, HeaderSize: d[2], BlockShift: d[3], Size: both733(d[4:])}, nil
}

// IsZisofs reports whether the algorithm is zisofs's zlib ("pz").
func (z ZF) IsZisofs() bool { return z.Algorithm == [2]byte{'p', 'z'} }
