package e2fsprogs

import disk "github.com/lklimg/lklimg/format/ext4"

// mkfsAccess is one block read or write through the I/O cache.
type mkfsAccess struct {
	blk   uint64
	write bool
	// flush: a read of more than 4 blocks, which bypasses the cache
	// after writing its dirty blocks out (flush_cached_blocks).
	flush bool
}

const (
	mkfsIOCacheSize = 8    // unix_io.c CACHE_SIZE
	mkfsZapBytes    = 4096 // zap_sector(fs, 2, 6) and zap_sector(fs, 0, 2)
)

func (l *mkfsLayout) ioR(b uint64) { l.trace = append(l.trace, mkfsAccess{blk: b}) }
func (l *mkfsLayout) ioW(b uint64) { l.trace = append(l.trace, mkfsAccess{blk: b, write: true}) }

// itBlk is the inode table block holding inode ino.
func (l *mkfsLayout) itBlk(ino uint32) uint64 {
	g := (ino - 1) / l.ipg
	return l.groups[g].inodeTable + uint64((ino-1)%l.ipg)*uint64(l.p.InodeSize)/l.bs
}

// itR and itW are ext2fs_read_inode and ext2fs_write_inode: the library
// reads an inode table block through the cache only when its own
// one-block buffer holds another.
func (l *mkfsLayout) itR(ino uint32) {
	if b := l.itBlk(ino); b != l.bufBlk {
		l.ioR(b)
		l.bufBlk = b
	}
}

func (l *mkfsLayout) itW(ino uint32) {
	l.itR(ino)
	l.ioW(l.itBlk(ino))
}

// ioModelBytes replays the trace, then write_bitmaps's writes of the
// dirty bitmaps, through the cache and returns the bytes written.
func (o *mkfsOutput) ioModelBytes() uint64 {
	type entry struct {
		blk          uint64
		inUse, dirty bool
		atime        uint64
	}
	var cache [mkfsIOCacheSize]entry
	var clock, written uint64
	access := func(a mkfsAccess) {
		if a.flush {
			for i := range cache {
				if e := &cache[i]; e.inUse && e.dirty {
					written += o.bs
					e.dirty = false
				}
			}
			return
		}
		clock++
		var victim *entry
		for i := range cache {
			e := &cache[i]
			if e.inUse && e.blk == a.blk {
				e.atime = clock
				e.dirty = e.dirty || a.write
				return
			}
		}
		for i := range cache {
			e := &cache[i]
			if !e.inUse {
				victim = e
				break
			}
			if victim == nil || e.atime < victim.atime {
				victim = e
			}
		}
		if victim.inUse && victim.dirty {
			written += o.bs
		}
		*victim = entry{blk: a.blk, inUse: true, dirty: a.write, atime: clock}
	}
	for _, a := range o.trace {
		access(a)
	}
	for g := uint32(0); g < o.ngroups; g++ {
		gd := &o.groups[g]
		if o.bbDirty && (!o.csum || gd.flags&disk.BgBlockUninit == 0) {
			access(mkfsAccess{blk: gd.blockBitmap, write: true})
		}
		if o.ibDirty && (!o.csum || gd.flags&disk.BgInodeUninit == 0) {
			access(mkfsAccess{blk: gd.inodeBitmap, write: true})
		}
	}
	return written + mkfsZapBytes
}
