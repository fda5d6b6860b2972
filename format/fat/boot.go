package fat

import (
	"math/bits"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The boot sector (fatgen §3): a jump, the OEM name, the BIOS Parameter
// Block common to every FAT type (§3.1), then an extended BPB whose place
// depends on the type: at 36 on FAT12 and FAT16 (§3.2), at 64 on FAT32
// after the FAT32 fields (§3.3).
//
//	  0 BS_jmpBoot[3]     11 BPB_BytsPerSec u16   13 BPB_SecPerClus u8
//	  3 BS_OEMName[8]     14 BPB_RsvdSecCnt u16   16 BPB_NumFATs u8
//	                      17 BPB_RootEntCnt u16   19 BPB_TotSec16 u16
//	                      21 BPB_Media u8         22 BPB_FATSz16 u16
//	                      24 BPB_SecPerTrk u16    26 BPB_NumHeads u16
//	                      28 BPB_HiddSec u32      32 BPB_TotSec32 u32
//	FAT32 only:           36 BPB_FATSz32 u32      40 BPB_ExtFlags u16
//	                      42 BPB_FSVer u16        44 BPB_RootClus u32
//	                      48 BPB_FSInfo u16       50 BPB_BkBootSec u16
//	                      52 BPB_Reserved[12]
//	extended BPB at 36 (FAT12/16) or 64 (FAT32):
//	                      +0 BS_DrvNum u8         +1 BS_Reserved1 u8
//	                      +2 BS_BootSig u8        +3 BS_VolID u32
//	                      +7 BS_VolLab[11]        +18 BS_FilSysType[8]
//	510 0x55 0xAA
//
// BS_Reserved1 is Linux's "state" byte (struct fat_boot_sector's
// fat16.state, fat32.state): bit 0 (StateDirty) is set while the volume is
// mounted read-write and cleared when it is unmounted cleanly, as Windows
// NT does.
const (
	BootSectorSize = 512
	offExtBPB16    = 36
	offExtBPB32    = 64
	extBPBSize     = 26 // DrvNum to FilSysType

	// BootSig is BS_BootSig when the volume ID, label and type follow.
	BootSig = 0x29
	// StateDirty is the bit of BS_Reserved1 Linux keeps while mounted
	// (FAT_STATE_DIRTY).
	StateDirty = 0x01
)

// The largest cluster numbers of each FAT type (fatgen §3.5: a FAT12
// volume has fewer than 4085 clusters, FAT16 fewer than 65525), as
// Linux's MAX_FAT12, MAX_FAT16 and MAX_FAT32 bound the count of
// clusters.
const (
	MaxFAT12 = 0xFF4
	MaxFAT16 = 0xFFF4
	MaxFAT32 = 0x0FFFFFF6
)

// FirstCluster is the number of the first data cluster: FAT entries 0 and
// 1 are reserved (fatgen §4).
const FirstCluster = 2

// BootSector is the boot sector's BPB and extended BPB (struct
// fat_boot_sector). The FAT32 fields are zero on FAT12 and FAT16.
type BootSector struct {
	JmpBoot    [3]byte
	OEMName    [8]byte
	BytsPerSec uint16
	SecPerClus uint8
	RsvdSecCnt uint16
	NumFATs    uint8
	RootEntCnt uint16
	TotSec16   uint16
	Media      uint8
	FATSz16    uint16
	SecPerTrk  uint16
	NumHeads   uint16
	HiddSec    uint32
	TotSec32   uint32

	// FAT32 (fatgen §3.3).
	FATSz32   uint32
	ExtFlags  uint16
	FSVer     uint16
	RootClus  uint32
	FSInfo    uint16
	BkBootSec uint16

	// The extended BPB (fatgen §3.2, §3.3).
	DrvNum     uint8
	Reserved1  uint8 // Linux's state byte: StateDirty
	BootSig    uint8
	VolID      uint32
	VolLab     [11]byte
	FilSysType [8]byte
}

// IsFAT32 reports whether the BPB is a FAT32 one. Linux decides it by
// BPB_FATSz16 being zero with BPB_FATSz32 set (fat_fill_super), not by
// the count of clusters as fatgen §3.5 does; both agree on every volume
// a formatter makes.
func (b *BootSector) IsFAT32() bool { return b.FATSz16 == 0 && b.FATSz32 != 0 }

// extOffset is where the extended BPB starts.
func (b *BootSector) extOffset() int {
	if b.IsFAT32() {
		return offExtBPB32
	}
	return offExtBPB16
}

// DecodeBootSector decodes the BPB from the first sector. It checks
// nothing but the length: Check does what a mount checks, and Probe what
// blkid does.
func DecodeBootSector(p []byte) (*BootSector, error) {
	if len(p) < BootSectorSize {
		return nil, abi.Errorf(abi.EUCLEAN, "fat: boot sector: %d bytes, want %d", len(p), BootSectorSize)
	}
	b := &BootSector{
		BytsPerSec: le.Uint16(p[11:]),
		SecPerClus: p[13],
		RsvdSecCnt: le.Uint16(p[14:]),
		NumFATs:    p[16],
		RootEntCnt: le.Uint16(p[17:]),
		TotSec16:   le.Uint16(p[19:]),
		Media:      p[21],
		FATSz16:    le.Uint16(p[22:]),
		SecPerTrk:  le.Uint16(p[24:]),
		NumHeads:   le.Uint16(p[26:]),
		HiddSec:    le.Uint32(p[28:]),
		TotSec32:   le.Uint32(p[32:]),
	}
	copy(b.JmpBoot[:], p[0:3])
	copy(b.OEMName[:], p[3:11])
	if b.FATSz16 == 0 {
		b.FATSz32 = le.Uint32(p[36:])
	}
	if b.IsFAT32() {
		b.ExtFlags = le.Uint16(p[40:])
		b.FSVer = le.Uint16(p[42:])
		b.RootClus = le.Uint32(p[44:])
		b.FSInfo = le.Uint16(p[48:])
		b.BkBootSec = le.Uint16(p[50:])
	}
	x := p[b.extOffset():]
	b.DrvNum = x[0]
	b.Reserved1 = x[1]
	b.BootSig = x[2]
	b.VolID = le.Uint32(x[3:])
	copy(b.VolLab[:], x[7:18])
	copy(b.FilSysType[:], x[18:26])
	return b, nil
}

// Encode writes the BPB into the first BootSectorSize bytes of p, leaving
// the boot code and the signature as they are (PutSignature writes it).
func (b *BootSector) Encode(p []byte) {
	copy(p[0:3], b.JmpBoot[:])
	copy(p[3:11], b.OEMName[:])
	le.PutUint16(p[11:], b.BytsPerSec)
	p[13] = b.SecPerClus
	le.PutUint16(p[14:], b.RsvdSecCnt)
	p[16] = b.NumFATs
	le.PutUint16(p[17:], b.RootEntCnt)
	le.PutUint16(p[19:], b.TotSec16)
	p[21] = b.Media
	le.PutUint16(p[22:], b.FATSz16)
	le.PutUint16(p[24:], b.SecPerTrk)
	le.PutUint16(p[26:], b.NumHeads)
	le.PutUint32(p[28:], b.HiddSec)
	le.PutUint32(p[32:], b.TotSec32)
	if b.IsFAT32() {
		le.PutUint32(p[36:], b.FATSz32)
		le.PutUint16(p[40:], b.ExtFlags)
		le.PutUint16(p[42:], b.FSVer)
		le.PutUint32(p[44:], b.RootClus)
		le.PutUint16(p[48:], b.FSInfo)
		le.PutUint16(p[50:], b.BkBootSec)
		clear(p[52:64])
	}
	x := p[b.extOffset():]
	x[0] = b.DrvNum
	x[1] = b.Reserved1
	x[2] = b.BootSig
	le.PutUint32(x[3:], b.VolID)
	copy(x[7:18], b.VolLab[:])
	copy(x[18:26], b.FilSysType[:])
}

// StateOffset is the offset in the boot sector of the state byte
// (BS_Reserved1) that holds StateDirty: what a driver rewrites at mount
// and unmount.
func (b *BootSector) StateOffset() int { return b.extOffset() + 1 }

// PutSignature writes the boot sector signature 0x55 0xAA at offset 510
// (fatgen §3.1, "Signature_word").
func PutSignature(p []byte) { p[510], p[511] = 0x55, 0xAA }

// HasSignature reports whether p ends in the boot sector signature.
func HasSignature(p []byte) bool { return len(p) >= 512 && p[510] == 0x55 && p[511] == 0xAA }

// ValidMedia reports whether m is a media descriptor Linux accepts
// (fat_valid_media): 0xF0 or 0xF8 to 0xFF.
func ValidMedia(m uint8) bool { return m == 0xF0 || m >= 0xF8 }

// TotalSectors is BPB_TotSec16, or BPB_TotSec32 where it is zero.
func (b *BootSector) TotalSectors() uint32 {
	if b.TotSec16 != 0 {
		return uint32(b.TotSec16)
	}
	return b.TotSec32
}

// FATSize is the sectors of one FAT: BPB_FATSz16, or BPB_FATSz32 on FAT32.
func (b *BootSector) FATSize() uint32 {
	if b.FATSz16 != 0 {
		return uint32(b.FATSz16)
	}
	return b.FATSz32
}

// Layout is where a FAT volume's regions lie, in sectors from its start,
// and its FAT type, as Linux's fat_fill_super works them out of the BPB.
type Layout struct {
	Bits           int    // 12, 16 or 32: the FAT entry width
	SectorSize     uint32 // bytes per sector
	ClusterSize    uint32 // bytes per cluster
	SecPerClus     uint32
	FATStart       uint32 // first sector of the first FAT
	FATSectors     uint32 // sectors of one FAT
	NumFATs        uint32
	RootStart      uint32 // FAT12/16: the fixed root directory's first sector
	RootEntries    uint32 // FAT12/16: its entries; 0 on FAT32
	RootCluster    uint32 // FAT32: the root directory's first cluster
	DataStart      uint32 // first sector of cluster 2
	TotalSectors   uint32
	Clusters       uint32 // count of data clusters: 2 to Clusters+1 exist
	ActiveFAT      int    // FAT32 with mirroring off: the one FAT in use; else -1
	FSInfoSector   uint32 // FAT32: the FSInfo sector (1 where BPB_FSInfo is 0); else 0
	BackupBoot     uint32 // FAT32: the backup boot sector, 0 if none
	DirtyOnDisk    bool   // the state byte's StateDirty was set
	StateOffset    int    // the state byte's offset in the boot sector
	MaxCluster     uint32 // Clusters + FirstCluster: one past the last cluster
	RootDirSectors uint32
}

// Check validates the BPB as Linux's fat_read_bpb and fat_fill_super do
// and returns the volume's layout. Errors are EINVAL with Linux's reason
// (a mount of a damaged or foreign boot sector fails with EINVAL there).
func (b *BootSector) Check() (*Layout, error) {
	bad := func(format string, args ...any) (*Layout, error) {
		return nil, abi.Errorf(abi.EINVAL, "fat: "+format, args...)
	}
	switch {
	case b.NumFATs == 0:
		return bad("bogus number of FAT structures")
	case b.RsvdSecCnt == 0:
		return bad("bogus number of reserved sectors")
	case !ValidMedia(b.Media):
		return bad("invalid media value (%#02x)", b.Media)
	case b.BytsPerSec < 512 || b.BytsPerSec > 4096 || bits.OnesCount16(b.BytsPerSec) != 1:
		return bad("bogus logical sector size %d", b.BytsPerSec)
	case bits.OnesCount8(b.SecPerClus) != 1:
		return bad("bogus sectors per cluster %d", b.SecPerClus)
	case b.FATSz16 == 0 && b.FATSz32 == 0:
		return bad("bogus number of FAT sectors")
	}
	l := &Layout{
		SectorSize:  uint32(b.BytsPerSec),
		SecPerClus:  uint32(b.SecPerClus),
		ClusterSize: uint32(b.BytsPerSec) * uint32(b.SecPerClus),
		FATStart:    uint32(b.RsvdSecCnt),
		FATSectors:  b.FATSize(),
		NumFATs:     uint32(b.NumFATs),
		ActiveFAT:   -1,
		StateOffset: b.StateOffset(),
	}
	if b.IsFAT32() {
		l.Bits = 32
		l.RootCluster = b.RootClus
		l.FSInfoSector = uint32(b.FSInfo)
		if l.FSInfoSector == 0 {
			l.FSInfoSector = 1 // as Linux: a zero BPB_FSInfo means sector 1
		}
		if b.BkBootSec != 0 && b.BkBootSec != 0xFFFF {
			l.BackupBoot = uint32(b.BkBootSec)
		}
		// fatgen §3.3 BPB_ExtFlags: bit 7 set means only the FAT in
		// bits 0-3 is active, the others are not mirrored.
		if b.ExtFlags&0x80 != 0 {
			l.ActiveFAT = int(b.ExtFlags & 0x0F)
			if l.ActiveFAT >= int(b.NumFATs) {
				return bad("active FAT %d of %d", l.ActiveFAT, b.NumFATs)
			}
		}
	}
	perSector := l.SectorSize / DirEntrySize
	if uint32(b.RootEntCnt)%perSector != 0 {
		return bad("bogus number of directory entries (%d)", b.RootEntCnt)
	}
	l.RootEntries = uint32(b.RootEntCnt)
	l.RootDirSectors = l.RootEntries / perSector
	fats := uint64(l.NumFATs) * uint64(l.FATSectors)
	l.RootStart = l.FATStart + uint32(min(fats, 1<<32-1))
	data := uint64(l.FATStart) + fats + uint64(l.RootDirSectors)
	l.TotalSectors = b.TotalSectors()
	if data >= uint64(l.TotalSectors) {
		return bad("no data clusters: data starts at sector %d of %d", data, l.TotalSectors)
	}
	l.DataStart = uint32(data)
	clusters := (l.TotalSectors - l.DataStart) / l.SecPerClus
	if l.Bits == 0 {
		l.Bits = 16
		if clusters <= MaxFAT12 {
			l.Bits = 12
		}
	}
	// The FAT must have an entry for every cluster: Linux takes the
	// smaller of the two counts (calc_fat_clusters).
	inFAT := uint64(l.FATSectors) * uint64(l.SectorSize) * 8 / uint64(l.Bits)
	if inFAT < FirstCluster {
		return bad("FAT of %d sectors holds no cluster", l.FATSectors)
	}
	clusters = uint32(min(uint64(clusters), inFAT-FirstCluster))
	if clusters > MaxClusters(l.Bits) {
		return bad("count of clusters too big (%d)", clusters)
	}
	if clusters == 0 {
		return bad("no data clusters")
	}
	l.Clusters = clusters
	l.MaxCluster = clusters + FirstCluster
	if l.Bits == 32 && (l.RootCluster < FirstCluster || l.RootCluster >= l.MaxCluster) {
		return bad("root directory cluster %d out of range", l.RootCluster)
	}
	l.DirtyOnDisk = b.Reserved1&StateDirty != 0
	return l, nil
}

// MaxClusters is the largest count of clusters a FAT of the given width
// may have (Linux's max_fat).
func MaxClusters(bits int) uint32 {
	switch bits {
	case 12:
		return MaxFAT12
	case 16:
		return MaxFAT16
	}
	return MaxFAT32
}

// ClusterSector returns the first sector of data cluster c (fatgen §3.5:
// FirstSectorofCluster).
func (l *Layout) ClusterSector(c uint32) uint64 {
	return uint64(l.DataStart) + uint64(c-FirstCluster)*uint64(l.SecPerClus)
}

// ClusterOffset returns the byte offset of data cluster c in the volume.
func (l *Layout) ClusterOffset(c uint32) int64 {
	return int64(l.ClusterSector(c)) * int64(l.SectorSize)
}

// ValidCluster reports whether c names a data cluster of the volume.
func (l *Layout) ValidCluster(c uint32) bool { return c >= FirstCluster && c < l.MaxCluster }
