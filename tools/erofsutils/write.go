package erofsutils

import (
	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// finish lays out and writes what follows the streamed data, then the
// superblock, and returns the image's size.
func (b *builder) finish() (int64, error) {
	if b.z != nil {
		if err := b.z.close(); err != nil {
			return 0, err
		}
	}
	b.out.padBlock()
	pl := b.walk()
	if b.p.XattrTolerance >= 0 {
		b.shareXattrs(pl)
	}
	if err := b.planInodes(pl); err != nil {
		return 0, err
	}
	// The late blocks: directories' and symlinks' not inline.
	blk := make([]byte, blockSize)
	for _, in := range pl.inodes {
		if in.nblocks == 0 || in.mode&abi.S_IFMT == abi.S_IFREG {
			continue
		}
		if in.isDir() {
			dp := pl.dirs[in]
			for i := range int(in.nblocks) {
				clear(blk)
				b.encodeDirBlock(blk, dp, i)
				b.out.write(blk)
			}
		} else {
			clear(blk)
			copy(blk, in.target)
			b.out.write(blk)
		}
	}
	b.out.write(pl.sharedArea)
	b.out.padBlock()
	if b.out.block() != pl.metaBlk {
		return 0, abi.Errorf(abi.EIO, "erofs: metadata planned at block %d, written at %d", pl.metaBlk, b.out.block())
	}
	// The metadata area: each inode at its nid, with its xattrs and
	// inline data.
	base := b.out.pos
	ibuf := make([]byte, blockSize+disk.InodeExtendedSize)
	for _, in := range pl.inodes {
		at := base + int64(in.nid)<<disk.InodeSlotBits
		b.out.zeros(int(at - b.out.pos))
		b.out.write(b.encodeInode(ibuf, pl, in))
	}
	b.out.padBlock()
	if err := b.out.flush(); err != nil {
		return 0, err
	}
	size := b.out.pos
	if err := b.writeSuper(pl, size); err != nil {
		return 0, err
	}
	return size, nil
}

// encodeDirBlock writes block i of a directory into blk (zeroed), with
// its entries' nids.
func (b *builder) encodeDirBlock(blk []byte, dp *dirPlan, i int) int {
	end := len(dp.ents)
	if i+1 < len(dp.starts) {
		end = dp.starts[i+1]
	}
	ents := make([]disk.Dirent, 0, end-dp.starts[i])
	for _, e := range dp.ents[dp.starts[i]:end] {
		ents = append(ents, disk.Dirent{Nid: e.in.nid, Name: e.name, FileType: e.in.fileType()})
	}
	return disk.EncodeDirBlock(blk, ents)
}

// encodeInode returns in's bytes in the metadata area: the inode, its
// xattr body, its inline data; p is a buffer of at least a block and an
// inode.
func (b *builder) encodeInode(p []byte, pl *plan, in *inode) []byte {
	di := disk.Inode{Mode: uint16(in.mode), Nlink: in.nlink, Size: in.size, Uid: in.uid, Gid: in.gid,
		Ino: in.ino, XattrICount: disk.XattrICount(len(in.xbody))}
	layout := disk.InodeFlatPlain
	switch {
	case in.comp != nil:
		layout = in.comp.layout()
		di.U = in.comp.blocks
	case in.mode&abi.S_IFMT == abi.S_IFCHR || in.mode&abi.S_IFMT == abi.S_IFBLK:
		di.U = in.rdev
	case in.isDir() && !in.plain, in.tail != nil:
		layout = disk.InodeFlatInline
		di.U = in.blkaddr
	default:
		di.U = in.blkaddr
	}
	switch in.mode & abi.S_IFMT {
	case abi.S_IFIFO, abi.S_IFSOCK:
		di.U = 0
	case abi.S_IFREG, abi.S_IFDIR, abi.S_IFLNK:
		if in.comp == nil && in.nblocks == 0 && !in.plain {
			// All inline, or empty: no block.
			di.U = 0
		}
	}
	di.Format = uint16(layout) << disk.IDataLayoutBit
	if in.extended {
		di.Format |= 1
		di.Mtime, di.MtimeNsec = uint64(in.mtime.Sec), uint32(in.mtime.Nsec)
	}
	isz := disk.InodeSize(di.Format)
	n := isz + len(in.xbody) + b.inlineLen(in)
	if n > len(p) {
		p = make([]byte, n)
	}
	p = p[:n]
	di.Encode(p)
	copy(p[isz:], in.xbody)
	data := p[isz+len(in.xbody):]
	switch {
	case in.comp != nil:
		in.comp.encodeMeta(data, isz+len(in.xbody))
	case in.isDir() && !in.plain:
		clear(data)
		dp := pl.dirs[in]
		b.encodeDirBlock(data, dp, len(dp.starts)-1)
	default:
		copy(data, in.tail)
	}
	return p
}

// writeSuper writes block 0: the superblock at 1024 and its checksum.
func (b *builder) writeSuper(pl *plan, size int64) error {
	sb := disk.SuperBlock{
		Magic:         disk.SuperMagicV1,
		FeatureCompat: disk.FeatureCompatSbChksum,
		BlkSzBits:     blkszBits,
		RootNid:       uint16(pl.inodes[0].nid),
		Inos:          uint64(len(pl.inodes)),
		BuildTime:     uint64(b.p.BuildTime.Sec),
		BuildTimeNsec: uint32(b.p.BuildTime.Nsec),
		Blocks:        uint32(size / blockSize),
		MetaBlkAddr:   pl.metaBlk,
		XattrBlkAddr:  pl.xattrBlk,
		UUID:          b.p.UUID,
	}
	if b.out.digest != nil {
		// A version 4 UUID (RFC 4122 4.4) of the bytes' digest.
		copy(sb.UUID[:], b.out.digest.Sum(nil))
		sb.UUID[6] = sb.UUID[6]&0x0f | 0x40
		sb.UUID[8] = sb.UUID[8]&0x3f | 0x80
	}
	copy(sb.VolumeName[:], b.p.Label)
	if b.z != nil {
		b.z.super(&sb)
	}
	blk := make([]byte, blockSize)
	sb.Encode(blk[disk.SuperOffset:])
	if b.z != nil {
		// The algorithms' configurations follow the superblock
		// (erofs_read_metadata: each record 4-byte aligned).
		copy(blk[disk.SuperOffset+sb.Size():], b.z.c.cfgs())
	}
	disk.PutSuperChecksum(blk[disk.SuperOffset:])
	_, err := b.out.dev.WriteAt(blk, 0)
	return err
}
