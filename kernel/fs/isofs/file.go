package isofs

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Regular file reads. A file's data is its sections one after another,
// mapped by blocks as isofs_get_blocks maps them: every section but the
// last covers its size rounded down to whole blocks (ISO level 3 writers
// make them whole), the last the rest. A zisofs file is decompressed
// block by block (fs/isofs/compress.c). ISO 9660 has no holes: no Seeker.

// ReadAt reads file data at off.
func (ip *inode) ReadAt(p []byte, off int64) (int, error) {
	if ip.mode&abi.S_IFMT == abi.S_IFDIR {
		return 0, abi.EISDIR
	}
	return vfs.ReadWithin(p, off, ip.size, func(p []byte, off int64) (int, error) {
		read := ip.readStored
		if ip.zf != nil {
			read = ip.readZisofs
		}
		n, err := read(p, off)
		return int(n), err
	})
}

// readStored reads the stored bytes [off, off+len(p)) of the file, which
// the caller has checked are below the file's stored size.
func (ip *inode) readStored(p []byte, off int64) (int64, error) {
	f := ip.f
	n := int64(0)
	for n < int64(len(p)) {
		pos := off + n
		dev, run := ip.mapBlock(pos >> f.shift)
		inRun := run<<f.shift - pos&(f.bsize-1)
		chunk := min(int64(len(p))-n, inRun)
		at := dev<<f.shift + pos&(f.bsize-1)
		if _, err := f.dev.ReadAt(p[n:n+chunk], at); err != nil {
			return n, abi.Errorf(abi.EIO, "isofs: inode %d: reading at %d: %v", ip.ino, at, err)
		}
		n += chunk
	}
	return n, nil
}

// mapBlock returns the device block of file block b and how many blocks
// from there are contiguous (to the section's end, or as many as asked
// for in the last section).
func (ip *inode) mapBlock(b int64) (dev, run int64) {
	f := ip.f
	base := int64(0)
	for i, s := range ip.sections {
		blocks := s.size >> f.shift
		if i == len(ip.sections)-1 {
			return s.start>>f.shift + b - base, 1 << 40
		}
		if b < base+blocks {
			return s.start>>f.shift + b - base, base + blocks - b
		}
		base += blocks
	}
	return 0, 0 // not reached: there is always a section
}

// storedSize is the bytes the file holds on the device: its sections'
// sizes (its size before a ZF entry replaced it).
func (ip *inode) storedSize() int64 {
	n := int64(0)
	for _, s := range ip.sections {
		n += s.size
	}
	return n
}

// readZisofs reads [off, off+len(p)) of a zisofs file: each block's
// pointers read from the table after the header, its zlib stream
// inflated (a block with no bytes is zeros). The last block inflated is
// kept, for reads smaller than a block.
func (ip *inode) readZisofs(p []byte, off int64) (int64, error) {
	ip.zmu.Lock()
	defer ip.zmu.Unlock()
	shift := ip.zf.BlockShift
	bs := int64(1) << shift
	if ip.zbuf == nil {
		ip.zbuf = make([]byte, bs)
	}
	n := int64(0)
	for n < int64(len(p)) {
		pos := off + n
		b := pos >> shift
		if b != ip.zblock {
			if err := ip.inflateBlock(b); err != nil {
				return n, err
			}
		}
		n += int64(copy(p[n:], ip.zbuf[pos&(bs-1):]))
	}
	return n, nil
}

// inflateBlock fills ip.zbuf with block b (zisofs_fill_pages).
func (ip *inode) inflateBlock(b int64) error {
	ip.zblock = -1
	zf := ip.zf
	stored := ip.storedSize()
	var ptrs [8]byte
	at := iso9660.ZisofsPointerOffset(zf.HeaderSize, uint64(b))
	if at+8 > stored {
		return abi.Errorf(abi.EIO, "isofs: inode %d: zisofs block %d: its pointers at %d are beyond the %d bytes stored", ip.ino, b, at, stored)
	}
	if _, err := ip.readStored(ptrs[:], at); err != nil {
		return err
	}
	start, end := binary.LittleEndian.Uint32(ptrs[:]), binary.LittleEndian.Uint32(ptrs[4:])
	if err := iso9660.CheckZisofsBlock(start, end, stored, zf.BlockShift); err != nil {
		ip.f.log.Printf("isofs: inode %d: %v", ip.ino, err)
		return abi.Errorf(abi.EIO, "isofs: inode %d: zisofs block %d: %v", ip.ino, b, err)
	}
	bs := int64(1) << zf.BlockShift
	out := ip.zbuf[:min(bs, ip.size-b<<zf.BlockShift)]
	if start == end {
		clear(ip.zbuf)
		ip.zblock = b
		return nil
	}
	if cap(ip.zsrc) < int(end-start) {
		ip.zsrc = make([]byte, 2*bs)
	}
	src := ip.zsrc[:end-start]
	if _, err := ip.readStored(src, int64(start)); err != nil {
		return err
	}
	if _, err := ip.zinf.Inflate(out, src); err != nil {
		ip.f.log.Printf("zisofs: inode %d: block %d: %v", ip.ino, b, err)
		return abi.Errorf(abi.EIO, "isofs: inode %d: zisofs block %d: %v", ip.ino, b, err)
	}
	clear(ip.zbuf[len(out):])
	ip.zblock = b
	return nil
}
