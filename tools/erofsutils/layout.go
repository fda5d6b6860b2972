package erofsutils

import (
	"bytes"
	"fmt"
	"slices"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Planning the end of the image once the input is read: which inodes
// there are (breadth first from the root, each once), the shared xattrs,
// the directories' blocks, then where each inode goes in the metadata
// area (its nid).

// dirEntry is one entry of a directory being laid out.
type dirEntry struct {
	name []byte
	in   *inode
}

// dirPlan is a directory's entries sorted and cut into blocks.
type dirPlan struct {
	ents     []dirEntry
	starts   []int // SplitDirBlocks
	lastUsed int
}

// plan is the layout of everything after the streamed data.
type plan struct {
	inodes []*inode // breadth first, the root first
	dirs   map[*inode]*dirPlan
	// shared xattrs: their ids, and the area's bytes.
	sharedIDs  map[xattr]uint32
	sharedArea []byte
	// late is the blocks after the streamed data: directories' and
	// symlinks' that are not inline, from lateBlk.
	lateBlk, lateBlocks uint32
	xattrBlk            uint32
	metaBlk             uint32
	metaSize            int64
}

// walk lists the inodes breadth first and counts their links: a
// directory's 2 and its subdirectories, another's its names.
func (b *builder) walk() *plan {
	pl := &plan{dirs: map[*inode]*dirPlan{}}
	seen := map[*inode]bool{b.t.root: true}
	queue := []*inode{b.t.root}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		pl.inodes = append(pl.inodes, d)
		if !d.isDir() {
			continue
		}
		dp := &dirPlan{ents: []dirEntry{{[]byte("."), d}, {[]byte(".."), d.parent}}}
		d.nlink = 2
		names := make([]string, 0, len(d.children))
		for name := range d.children {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			c := d.children[name]
			dp.ents = append(dp.ents, dirEntry{[]byte(name), c})
			if c.isDir() {
				d.nlink++
				c.parent = d
			}
			if !seen[c] {
				seen[c] = true
				if !c.isDir() {
					c.nlink = 0
				}
				queue = append(queue, c)
			}
			if !c.isDir() {
				c.nlink++
			}
		}
		// strcmp order, "." and ".." among the names.
		slices.SortFunc(dp.ents, func(x, y dirEntry) int { return bytes.Compare(x.name, y.name) })
		nb := make([][]byte, len(dp.ents))
		for i, e := range dp.ents {
			nb[i] = e.name
		}
		dp.starts, dp.lastUsed = disk.SplitDirBlocks(nb, blockSize)
		pl.dirs[d] = dp
		d.size = uint64(len(dp.starts)-1)*blockSize + uint64(dp.lastUsed)
	}
	return pl
}

// shareXattrs picks the xattrs more than XattrTolerance inodes carry
// and lays out the shared area, in the order they are first met.
func (b *builder) shareXattrs(pl *plan) {
	pl.sharedIDs = map[xattr]uint32{}
	count := map[xattr]int{}
	var order []xattr
	for _, in := range pl.inodes {
		for _, x := range in.xattrs {
			if count[x] == 0 {
				order = append(order, x)
			}
			count[x]++
		}
	}
	for _, x := range order {
		if count[x] <= b.p.XattrTolerance {
			continue
		}
		pl.sharedIDs[x] = uint32(len(pl.sharedArea) / 4)
		n := disk.XattrEntryLen(x.suffix, len(x.value))
		pl.sharedArea = slices.Grow(pl.sharedArea, n)[:len(pl.sharedArea)+n]
		disk.EncodeXattrEntry(pl.sharedArea[len(pl.sharedArea)-n:], x.index, x.suffix, []byte(x.value))
	}
}

// xattrBody builds in's inline xattr body: the header, the ids of its
// shared xattrs, then the others' entries.
func (b *builder) xattrBody(pl *plan, in *inode) error {
	if len(in.xattrs) == 0 {
		return nil
	}
	var shared []uint32
	var rest []xattr
	for _, x := range in.xattrs {
		if id, ok := pl.sharedIDs[x]; ok {
			shared = append(shared, id)
		} else {
			rest = append(rest, x)
		}
	}
	if len(shared) > 255 {
		return abi.Errorf(abi.E2BIG, "erofs: %d shared xattrs on one inode", len(shared))
	}
	n := disk.XattrIbodyHeaderSize + 4*len(shared)
	for _, x := range rest {
		n += disk.XattrEntryLen(x.suffix, len(x.value))
	}
	if n > 0xffff*4 {
		return abi.Errorf(abi.E2BIG, "erofs: %d bytes of inline xattrs", n)
	}
	body := make([]byte, n)
	off := disk.EncodeXattrIbodyHeader(body, shared)
	for _, x := range rest {
		off += disk.EncodeXattrEntry(body[off:], x.index, x.suffix, []byte(x.value))
	}
	in.xbody = body
	return nil
}

// inlineLen is the bytes of data after in's inode and xattrs: its tail,
// a directory's or symlink's last block when inline, a compressed file's
// map (metaExtra).
func (b *builder) inlineLen(in *inode) int {
	if in.comp != nil {
		return in.comp.metaLen(b.inodeSize(in) + len(in.xbody))
	}
	return len(in.tail) + in.dirTail
}

// planInodes decides the inline data of directories and symlinks, the
// late blocks, and every inode's place; the metadata area starts after
// the late blocks and the shared xattrs.
func (b *builder) planInodes(pl *plan) error {
	pl.lateBlk = b.out.block()
	for _, in := range pl.inodes {
		if err := b.xattrBody(pl, in); err != nil {
			return err
		}
		in.extended = b.extendedFor(in)
		isz := b.inodeSize(in)
		switch {
		case in.isDir():
			dp := pl.dirs[in]
			full := uint32(len(dp.starts) - 1)
			if b.p.NoInline || isz+len(in.xbody)+dp.lastUsed > blockSize {
				full++
				in.plain = true
			} else {
				in.dirTail = dp.lastUsed
			}
			in.nblocks = full
		case in.mode&abi.S_IFMT == abi.S_IFLNK:
			if b.p.NoInline || isz+len(in.xbody)+len(in.target) > blockSize {
				in.nblocks, in.plain = 1, true
			} else {
				in.tail = []byte(in.target)
			}
		case in.tail != nil && isz+len(in.xbody)+len(in.tail) > blockSize:
			// Its links grew past a compact inode's count.
			return fmt.Errorf("erofs: a file of %d links has no room for its inline data", in.nlink)
		}
		if (in.isDir() || in.mode&abi.S_IFMT == abi.S_IFLNK) && in.nblocks > 0 {
			in.blkaddr = pl.lateBlk + pl.lateBlocks
			pl.lateBlocks += in.nblocks
		}
	}
	pl.xattrBlk = pl.lateBlk + pl.lateBlocks
	pl.metaBlk = pl.xattrBlk + uint32((len(pl.sharedArea)+blockSize-1)/blockSize)
	if len(pl.sharedArea) == 0 {
		pl.xattrBlk = 0
	}
	off := int64(0)
	for i, in := range pl.inodes {
		off = (off + 31) &^ 31
		in.meta = b.inodeSize(in) + len(in.xbody) + b.inlineLen(in)
		if in.meta <= blockSize && off%blockSize+int64(in.meta) > blockSize {
			off = (off + blockSize - 1) &^ (blockSize - 1)
		}
		in.nid = uint64(off >> disk.InodeSlotBits)
		in.ino = uint32(i + 1)
		off += int64(in.meta)
	}
	pl.metaSize = off
	if pl.inodes[0].nid != 0 {
		return fmt.Errorf("erofs: root nid %d", pl.inodes[0].nid)
	}
	return nil
}
