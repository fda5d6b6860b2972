package iso9660

// Directory records (ECMA-119 §9.1, struct iso_directory_record):
//
//	 0 length of the record     1 extended attribute record length
//	 2 extent location (733)   10 data length (733)
//	18 recording date[7]       25 file flags
//	26 file unit size          27 interleave gap size
//	28 volume sequence number (723)
//	32 length of file identifier (LEN_FI)
//	33 file identifier[LEN_FI], a padding byte if LEN_FI is even,
//	   then the system use area (SUSP entries) to the record's end.
//
// A record does not span a logical sector (ECMA-119 §6.8.1.1); the rest
// of a sector after its last record is zeros, a zero length byte meaning
// "go on at the next sector".
const (
	// DirRecordHeaderSize is the fixed part, before the identifier
	// (sizeof(struct iso_directory_record) in Linux).
	DirRecordHeaderSize = 33
	// MinDirRecordSize is the smallest record: a one-byte identifier.
	MinDirRecordSize = DirRecordHeaderSize + 1
)

// File flags (ECMA-119 §9.1.6).
const (
	FlagHidden      = 0x01 // "existence": hidden from the user
	FlagDirectory   = 0x02
	FlagAssociated  = 0x04 // an associated file (Apple resource forks)
	FlagRecord      = 0x08
	FlagProtection  = 0x10
	FlagMultiExtent = 0x80 // not the final record of the file
)

// DirRecord is a directory record decoded.
type DirRecord struct {
	Len           uint8
	ExtAttrLen    uint8
	Extent        uint32 // first logical block of the data
	DataLength    uint32 // bytes of this extent (section)
	Date          [7]byte
	Flags         uint8
	FileUnitSize  uint8
	InterleaveGap uint8
	VolSeqNumber  uint16
	// Name is the file identifier as stored: "\x00" for ".", "\x01" for
	// "..", else d-characters with ";1" or UCS-2 for Joliet.
	Name []byte
	// SystemUse is the system use area (may be empty).
	SystemUse []byte
}

// DecodeDirRecord decodes the record at the start of p, which must hold
// it whole (p may run on past it). A zero length byte is not a record:
// the caller skips to the next sector. The slices of the result point into
// p.
func DecodeDirRecord(p []byte) (DirRecord, error) {
	var r DirRecord
	if len(p) < 1 || p[0] == 0 {
		return r, corrupt("directory record: zero length")
	}
	n := int(p[0])
	if n < MinDirRecordSize {
		return r, corrupt("directory record: length %d, under %d", n, MinDirRecordSize)
	}
	if n > len(p) {
		return r, corrupt("directory record: length %d, beyond the %d bytes left", n, len(p))
	}
	nameLen := int(p[32])
	if DirRecordHeaderSize+nameLen > n {
		// Linux: "Corrupted directory entry".
		return r, corrupt("directory record: identifier of %d bytes in a record of %d", nameLen, n)
	}
	r = DirRecord{
		Len:           p[0],
		ExtAttrLen:    p[1],
		Extent:        both733(p[2:]),
		DataLength:    both733(p[10:]),
		Flags:         p[25],
		FileUnitSize:  p[26],
		InterleaveGap: p[27],
		VolSeqNumber:  both723(p[28:]),
		Name:          p[33 : 33+nameLen],
	}
	copy(r.Date[:], p[18:25])
	if su := SystemUseOffset(nameLen); su < n {
		r.SystemUse = p[su:n]
	}
	return r, nil
}

// SystemUseOffset returns where the system use area of a record with an
// identifier of nameLen bytes starts: after the identifier and the
// padding byte that makes it even (ECMA-119 §9.1.12).
func SystemUseOffset(nameLen int) int {
	n := DirRecordHeaderSize + nameLen
	if n&1 != 0 {
		n++
	}
	return n
}

// IsDot reports whether the record is a directory's "." (identifier 0x00).
func (r *DirRecord) IsDot() bool { return len(r.Name) == 1 && r.Name[0] == 0 }

// IsDotDot reports whether the record is ".." (identifier 0x01).
func (r *DirRecord) IsDotDot() bool { return len(r.Name) == 1 && r.Name[0] == 1 }

// IsDir reports whether the record's directory flag is set.
func (r *DirRecord) IsDir() bool { return r.Flags&FlagDirectory != 0 }
