package isofs

import (
	"sync"

	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// inode is a file, directory, symlink or device as isofs_read_inode makes
// it from the directory record at pos (a byte offset on the device): a
// directory's "." record, or a file's (first) record. It is not changed
// after readInode.
type inode struct {
	f     *fsys
	pos   int64
	ino   uint64
	mode  uint32
	nlink uint32
	uid   uint32
	gid   uint32
	rdev  uint64
	size  int64
	// blocks is st_blocks: the data's length before Rock Ridge (a zisofs
	// file's stored length), in 512-byte units.
	blocks              int64
	atime, mtime, ctime abi.Timespec
	// sections are the file's extents in order (one unless multi-extent);
	// a directory's data is sections[0].
	sections []section
	target   string // a symlink's target (SL)
	badLink  bool   // the target is empty or too long: readlink is EIO
	zf       *iso9660.ZF
	// zmu guards the last zisofs block inflated (file.go).
	zmu    sync.Mutex
	zblock int64 // its index; -1 none
	zbuf   []byte
	zsrc   []byte // the compressed block read
	zinf   iso9660.ZisofsInflater
}

// section is one extent of a file: where it starts on the device and its
// length in bytes.
type section struct {
	start int64
	size  int64
}

// maxSkips bounds the empty block ends passed over looking for a
// section's record.
const maxSkips = 16

// maxSections bounds a file's extents, as isofs_read_level3_size does
// ("More than 100 file sections ?!?").
const maxSections = 100

// inoOf is isofs_get_ino: the record's block and offset within it as one
// number, (block << (bits-5)) | (offset >> 5), which is pos/32.
func inoOf(pos int64) uint64 { return uint64(pos) >> 5 }

// recordAt reads the record at device offset pos into buf (which holds
// 256 bytes): its length byte, then the record whole, even when it
// crosses a block's end (isofs_read_inode copies such a record from two
// blocks).
func (f *fsys) recordAt(pos int64, buf []byte) (iso9660.DirRecord, error) {
	p := buf[:256]
	if _, err := f.dev.ReadAt(p[:1], pos); err != nil {
		return iso9660.DirRecord{}, abi.Errorf(abi.EIO, "isofs: directory record at %d: %v", pos, err)
	}
	l := int(p[0])
	if l == 0 {
		return iso9660.DirRecord{}, abi.Errorf(abi.EIO, "isofs: no directory record at %d", pos)
	}
	if _, err := f.dev.ReadAt(p[:l], pos); err != nil {
		return iso9660.DirRecord{}, abi.Errorf(abi.EIO, "isofs: directory record at %d: %v", pos, err)
	}
	r, err := f.decodeRecord(p[:l])
	if err != nil {
		f.log.Printf("ISOFS: Corrupted directory entry at %d: %v", pos, err)
		return r, abi.Errorf(abi.EIO, "isofs: at %d: %v", pos, err)
	}
	return r, nil
}

// readInode reads the inode whose record is at pos (isofs_read_inode);
// relocated is set when reading a relocated directory's "." for the CL
// record that points at it (isofs_iget_reloc).
func (f *fsys) readInode(pos int64, relocated bool) (*inode, error) {
	var buf [256]byte
	r, err := f.recordAt(pos, buf[:])
	if err != nil {
		return nil, err
	}
	o := &f.opts
	ip := &inode{f: f, pos: pos, ino: inoOf(pos), nlink: 1, uid: o.uid, gid: o.gid, zblock: -1}
	if r.IsDir() {
		ip.mode = abi.S_IFDIR | 0o555
		if o.dmode != invalidMode {
			ip.mode = abi.S_IFDIR | o.dmode
		}
	} else {
		ip.mode = abi.S_IFREG | 0o555
		if o.fmode != invalidMode {
			ip.mode = abi.S_IFREG | o.fmode
		}
	}
	first := section{start: (int64(r.Extent) + int64(r.ExtAttrLen)) << f.shift, size: int64(r.DataLength)}
	ip.sections = []section{first}
	ip.size = first.size
	if r.Flags&iso9660.FlagMultiExtent != 0 {
		if err := ip.readSections(pos); err != nil {
			return nil, err
		}
	}
	if o.cruft {
		ip.size &= 0x00ffffff
	}
	if r.InterleaveGap != 0 {
		f.log.Printf("ISOFS: Interleaved files not (yet) supported.")
		ip.size = 0
	}
	t := iso9660.DecodeDate(r.Date[:])
	ip.mtime = abi.Timespec{Sec: t.Sec}
	ip.atime, ip.ctime = ip.mtime, ip.mtime
	ip.blocks = (ip.size + 511) >> 9
	if err := ip.parseRock(&r, relocated); err != nil {
		return nil, err
	}
	if o.uidSet {
		ip.uid = o.uid
	}
	if o.gidSet {
		ip.gid = o.gid
	}
	if o.overrideRock {
		if ip.mode&abi.S_IFMT == abi.S_IFDIR && o.dmode != invalidMode {
			ip.mode = abi.S_IFDIR | o.dmode
		}
		if ip.mode&abi.S_IFMT == abi.S_IFREG && o.fmode != invalidMode {
			ip.mode = abi.S_IFREG | o.fmode
		}
	}
	switch ip.mode & abi.S_IFMT {
	case abi.S_IFREG, abi.S_IFDIR, abi.S_IFLNK, abi.S_IFCHR, abi.S_IFBLK, abi.S_IFIFO, abi.S_IFSOCK:
	default:
		f.log.Printf("init_special_inode: bogus i_mode (%o) for inode %d", ip.mode, ip.ino)
		return nil, abi.Errorf(abi.EUCLEAN, "isofs: inode %d: mode %o has no file type", ip.ino, ip.mode)
	}
	return ip, nil
}

// readSections collects a multi-extent file's sections from the records
// after its first (isofs_read_level3_size): each record's extent and
// size until one without the multi-extent flag, a zero length byte
// moving on to the next block, at most maxSections (then the file is
// what was found, as on Linux).
func (ip *inode) readSections(pos int64) error {
	f := ip.f
	var buf [256]byte
	r, err := f.recordAt(pos, buf[:])
	if err != nil {
		return err
	}
	for r.Flags&iso9660.FlagMultiExtent != 0 {
		if len(ip.sections) >= maxSections {
			f.log.Printf("isofs_read_level3_size: More than 100 file sections ?!?, aborting... inode=%d", ip.ino)
			return nil
		}
		pos += int64(r.Len)
		var lenByte [1]byte
		if _, err := f.dev.ReadAt(lenByte[:], pos); err != nil {
			return abi.Errorf(abi.EIO, "isofs: inode %d: next section's record at %d: %v", ip.ino, pos, err)
		}
		for skips := 0; lenByte[0] == 0; skips++ {
			// The rest of the block is empty: on at the next.
			if skips == maxSkips {
				return abi.Errorf(abi.EIO, "isofs: inode %d: no record of its next section in %d blocks", ip.ino, maxSkips)
			}
			pos = (pos>>f.shift + 1) << f.shift
			if _, err := f.dev.ReadAt(lenByte[:], pos); err != nil {
				return abi.Errorf(abi.EIO, "isofs: inode %d: next section's record at %d: %v", ip.ino, pos, err)
			}
		}
		if r, err = f.recordAt(pos, buf[:]); err != nil {
			return err
		}
		s := section{start: (int64(r.Extent) + int64(r.ExtAttrLen)) << f.shift, size: int64(r.DataLength)}
		ip.sections = append(ip.sections, s)
		ip.size += s.size
	}
	return nil
}

// parseRock applies the record's Rock Ridge entries
// (parse_rock_ridge_inode), a second time 14 bytes further on when the
// root had no SP (CD-ROM XA's system use information comes first).
func (ip *inode) parseRock(r *iso9660.DirRecord, relocated bool) error {
	f := ip.f
	if f.rock == rockOff {
		return nil
	}
	if err := ip.parseRockArea(r, relocated, false); err != nil {
		return err
	}
	if f.xaRetry {
		return ip.parseRockArea(r, relocated, true)
	}
	return nil
}

// maxLink is the longest symlink target readlink returns (a page less
// its NUL, rock_ridge_symlink_read_folio).
const maxLink = 4095

// parseRockArea is parse_rock_ridge_inode_internal.
func (ip *inode) parseRockArea(r *iso9660.DirRecord, relocated, xa bool) error {
	f := ip.f
	var target []byte
	linkOK, slQuirk := true, 0
	return f.walkSUSP(r.SystemUse, xa, func(e iso9660.Entry) (bool, error) {
		switch e.Sig {
		case iso9660.SigSP:
			if _, err := iso9660.DecodeSP(e); err != nil {
				return true, nil
			}
		case iso9660.SigPX:
			px, _ := iso9660.DecodePX(e)
			ip.mode = px.Mode & 0xffff // i_mode is 16 bits
			ip.nlink = px.Nlink
			ip.uid, ip.gid = px.Uid, px.Gid
		case iso9660.SigPN:
			pn, _ := iso9660.DecodePN(e)
			ip.rdev = linuxRdev(pn)
		case iso9660.SigTF:
			tf, err := iso9660.DecodeTF(e)
			if err != nil {
				f.log.Printf("ISOFS: inode %d: %v", ip.ino, err)
			}
			ts := func(bit int) abi.Timespec {
				return abi.Timespec{Sec: tf.Times[bit].Sec, Nsec: tf.Times[bit].Nsec}
			}
			// Some writers put ctime in CREATE: take it, then
			// ATTRIBUTES over it.
			if tf.Flags&iso9660.TFCreate != 0 {
				ip.ctime = ts(0)
			}
			if tf.Flags&iso9660.TFModify != 0 {
				ip.mtime = ts(1)
			}
			if tf.Flags&iso9660.TFAccess != 0 {
				ip.atime = ts(2)
			}
			if tf.Flags&iso9660.TFAttributes != 0 {
				ip.ctime = ts(3)
			}
		case iso9660.SigSL:
			sl, err := iso9660.DecodeSL(e)
			if err != nil {
				f.log.Printf("ISOFS: inode %d: %v", ip.ino, err)
				return true, nil
			}
			for _, c := range sl.Components {
				switch c.Flags &^ iso9660.SLContinue {
				case 0, iso9660.SLCurrent, iso9660.SLParent, iso9660.SLRoot:
				default:
					f.log.Printf("Symlink component flag not implemented (%d)", c.Flags)
				}
			}
			// The size counts a "/" after a continued entry's last
			// component even when it is the root, which the target
			// does not get.
			if n := len(sl.Components); n > 0 && sl.Flags&iso9660.SLContinue != 0 {
				if c := sl.Components[n-1]; c.Flags == iso9660.SLRoot {
					slQuirk++
				}
			}
			if linkOK {
				target, linkOK = sl.AppendTarget(target, maxLink)
			}
			ip.size = int64(len(target) + slQuirk)
			ip.target = string(target)
			ip.badLink = !linkOK || len(target) == 0
		case iso9660.SigRE:
			f.log.Printf("Attempt to read inode for relocated directory")
			return true, nil
		case iso9660.SigCL:
			return true, ip.followCL(e, relocated)
		case iso9660.SigZF:
			if f.opts.nocompress {
				break
			}
			zf, _ := iso9660.DecodeZF(e)
			if !zf.IsZisofs() {
				f.log.Printf("isofs: Unknown ZF compression algorithm: %c%c", zf.Algorithm[0], zf.Algorithm[1])
				break
			}
			if zf.BlockShift > iso9660.ZisofsMaxShift || zf.BlockShift < 9 {
				f.log.Printf("isofs: Can't handle ZF block size of 2^%d", zf.BlockShift)
				break
			}
			ip.zf = &zf
			ip.size = int64(zf.Size)
		}
		return false, nil
	})
}

// followCL makes the inode the relocated directory a CL entry points at:
// its data from there, its attributes from that directory's "." record.
// The walk of the area goes on after CL on Linux; entries after it would
// change the attributes taken, which writers do not put there, so it
// stops.
func (ip *inode) followCL(e iso9660.Entry, relocated bool) error {
	f := ip.f
	if relocated {
		f.log.Printf("ISOFS: Recursive directory relocation is not supported")
		return abi.Errorf(abi.EIO, "isofs: inode %d: recursive directory relocation", ip.ino)
	}
	block, _ := iso9660.DecodeLocation(e)
	pos := int64(block) << f.shift
	if pos == ip.pos {
		f.log.Printf("ISOFS: Directory relocation points to itself")
		return abi.Errorf(abi.EIO, "isofs: inode %d: directory relocation points to itself", ip.ino)
	}
	reloc, err := f.readInode(pos, true)
	if err != nil {
		return err
	}
	ip.mode, ip.nlink, ip.uid, ip.gid, ip.rdev = reloc.mode, reloc.nlink, reloc.uid, reloc.gid, reloc.rdev
	ip.size, ip.blocks = reloc.size, reloc.blocks
	ip.atime, ip.mtime, ip.ctime = reloc.atime, reloc.mtime, reloc.ctime
	ip.sections = []section{{start: pos, size: reloc.size}}
	return nil
}

// linuxRdev is the device number Linux makes of PN: MKDEV(high, low) in
// its 32-bit dev_t (12 bits of major, 20 of minor, a minor's higher bits
// spilling into the major's), or low taken whole as an old 8:8 number
// when high is 0 and low has more than 8 bits.
func linuxRdev(pn iso9660.PN) uint64 {
	var dev uint32
	if pn.Low&^0xff != 0 && pn.High == 0 {
		dev = (pn.Low>>8)<<20 | pn.Low&0xff
	} else {
		dev = pn.High<<20 | pn.Low
	}
	return abi.Makedev(dev>>20, dev&0xfffff)
}

func (ip *inode) Ino() uint64 { return ip.ino }

// Getattr reports the inode as isofs_read_inode filled it.
func (ip *inode) Getattr() (vfs.Attr, error) {
	return vfs.Attr{
		Ino:     ip.ino,
		Mode:    ip.mode,
		Nlink:   ip.nlink,
		Uid:     ip.uid,
		Gid:     ip.gid,
		Rdev:    ip.rdev,
		Size:    ip.size,
		Blocks:  ip.blocks,
		Blksize: uint32(ip.f.bsize),
		Atime:   ip.atime,
		Mtime:   ip.mtime,
		Ctime:   ip.ctime,
	}, nil
}

// Readlink returns the SL target: EIO when it is empty or too long, as
// rock_ridge_symlink_read_folio fails.
func (ip *inode) Readlink() (string, error) {
	if ip.badLink || ip.target == "" {
		return "", abi.Errorf(abi.EIO, "isofs: inode %d: symlink without a readable SL target", ip.ino)
	}
	return ip.target, nil
}
