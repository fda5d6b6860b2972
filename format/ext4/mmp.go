package ext4

import "github.com/lklimg/lklimg/kernel/abi"

// The multiple mount protection block (struct mmp_struct, the mmp
// feature; Documentation/filesystems/ext4/mmp.rst): a node that mounts
// the filesystem read-write writes a sequence number there and keeps
// changing it; another node that sees it change knows the filesystem is
// in use. 1 KiB at the start of the block s_mmp_block names.
const (
	MmpSize   = 1024
	MmpMagic  = 0x004D4D50 // "MMP"
	MmpSeqMax = 0xE24D4D4F // the largest sequence number of a mount
	// MmpSeqClean is the sequence of a filesystem no node has mounted
	// read-write; MmpSeqFsck that of one e2fsck is checking.
	MmpSeqClean = 0xFF4D4D50
	MmpSeqFsck  = 0xE24D4D50
	// MmpMinCheckInterval, MmpMaxCheckInterval and MmpCheckMult bound and
	// scale the check interval, in seconds (EXT4_MMP_*).
	MmpMinCheckInterval = 5
	MmpMaxCheckInterval = 300
	MmpCheckMult        = 2
)

// Mmp is the MMP block's contents.
type Mmp struct {
	Seq           uint32
	Time          uint64   // seconds since the epoch of the last update
	Nodename      [64]byte // the updating node's name (utsname)
	Bdevname      [32]byte // its name of the device
	CheckInterval uint16   // seconds another node waits to see a change
}

// DecodeMmp decodes the MMP block b (MmpSize bytes or more), checking its
// magic and, with metadata_csum, its checksum (ext4_mmp_csum_verify).
func (fs *Geometry) DecodeMmp(b []byte) (*Mmp, error) {
	if len(b) < MmpSize {
		return nil, abi.Errorf(abi.EINVAL, "ext4: MMP block of %d bytes", len(b))
	}
	if m := le.Uint32(b); m != MmpMagic {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: MMP block: bad magic %#x", m)
	}
	if fs.Super.MetadataCsum() {
		if want, got := fs.mmpCsum(b), le.Uint32(b[0x3FC:]); want != got {
			return nil, abi.Errorf(abi.EUCLEAN, "ext4: MMP block: checksum %#x, computed %#x", got, want)
		}
	}
	m := &Mmp{Seq: le.Uint32(b[4:]), Time: le.Uint64(b[8:]), CheckInterval: le.Uint16(b[0x70:])}
	copy(m.Nodename[:], b[0x10:])
	copy(m.Bdevname[:], b[0x50:])
	return m, nil
}

// EncodeMmp writes m into the MMP block b (MmpSize bytes or more) over
// what b holds (the padding is kept), with its checksum.
func (fs *Geometry) EncodeMmp(m *Mmp, b []byte) {
	le.PutUint32(b, MmpMagic)
	le.PutUint32(b[4:], m.Seq)
	le.PutUint64(b[8:], m.Time)
	copy(b[0x10:0x50], m.Nodename[:])
	copy(b[0x50:0x70], m.Bdevname[:])
	le.PutUint16(b[0x70:], m.CheckInterval)
	if fs.Super.MetadataCsum() {
		le.PutUint32(b[0x3FC:], fs.mmpCsum(b))
	}
}

// mmpCsum is mmp_checksum: the crc32c of the block up to it, from
// s_csum_seed.
func (fs *Geometry) mmpCsum(b []byte) uint32 { return Csum32(fs.CrcTab, fs.CsumSeed, b[:0x3FC]) }
