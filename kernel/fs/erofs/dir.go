package erofs

import (
	"bytes"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Directories: blocks of sorted entries (format/erofs dirent.go), "."
// and ".." among them. A position is an entry's byte offset in the
// directory; after a block's last entry it is the next block's start
// (erofs_readdir's ctx->pos). A directory without its "." entry
// (disk.Inode.DotOmitted) shows one at position size, after the others,
// as erofs_readdir does; the next position is size+1.

// dirBlock reads and checks block i of the directory into buf (a block's
// room) and returns it: the last block only as far as the size goes.
func (ip *inode) dirBlock(buf []byte, i int64) (disk.DirBlock, error) {
	f := ip.f
	start := i << f.blkbits
	n := min(int64(ip.di.Size)-start, f.bsize)
	b := buf[:n]
	if _, err := ip.readData(b, start); err != nil {
		return disk.DirBlock{}, err
	}
	d, err := disk.DecodeDirBlock(b)
	if err != nil {
		return d, abi.Errorf(abi.EUCLEAN, "erofs: directory nid %d block %d: %v", ip.nid, i, err)
	}
	return d, nil
}

// ReadDirDots emits the entries from position pos on, "." and ".."
// where the directory has them (erofs_readdir). A position inside an
// entry resumes at the next entry.
func (ip *inode) ReadDirDots(pos int64, emit func(vfs.DirEntry) bool) error {
	return ip.readDir(pos, true, emit)
}

// ReadDir is ReadDirDots without "." and "..": the VFS uses ReadDirDots.
func (ip *inode) ReadDir(pos int64, emit func(vfs.DirEntry) bool) error {
	return ip.readDir(pos, false, emit)
}

func (ip *inode) readDir(pos int64, dots bool, emit func(vfs.DirEntry) bool) error {
	f := ip.f
	size := int64(ip.di.Size)
	if pos < 0 {
		return abi.EINVAL
	}
	buf := make([]byte, f.bsize)
	for pos < size {
		blk := pos >> f.blkbits
		start := blk << f.blkbits
		d, err := ip.dirBlock(buf, blk)
		if err != nil {
			return err
		}
		end := start + min(size-start, f.bsize)
		i := int((pos - start + disk.DirentSize - 1) / disk.DirentSize)
		for ; i < d.Len(); i++ {
			e := d.Entry(i)
			next := start + int64(i+1)*disk.DirentSize
			if i+1 == d.Len() {
				next = end
			}
			name := string(e.Name)
			if !dots && (name == "." || name == "..") {
				continue
			}
			if !emit(vfs.DirEntry{Name: name, Ino: f.ino(e.Nid), Type: disk.DType(e.FileType), Next: next}) {
				return nil
			}
		}
		pos = end
	}
	if dots && pos == size && ip.di.DotOmitted() {
		emit(vfs.DirEntry{Name: ".", Ino: ip.Ino(), Type: abi.DT_DIR, Next: size + 1})
	}
	return nil
}

// Lookup finds name by binary search (erofs_namei): first the last block
// whose first name is not above it, then within that block.
func (ip *inode) Lookup(name string) (vfs.Inode, error) {
	nid, err := ip.find([]byte(name))
	if err != nil {
		return nil, err
	}
	return ip.f.iget(nid)
}

func (ip *inode) find(name []byte) (uint64, error) {
	f := ip.f
	nblocks := (int64(ip.di.Size) + f.bsize - 1) >> f.blkbits
	buf := make([]byte, f.bsize)
	var cand disk.DirBlock
	found := false
	head, back := int64(0), nblocks-1
	for head <= back {
		mid := head + (back-head)/2
		d, err := ip.dirBlock(buf, mid)
		if err != nil {
			return 0, err
		}
		switch c := bytes.Compare(name, d.Entry(0).Name); {
		case c == 0:
			return d.Entry(0).Nid, nil
		case c > 0:
			head = mid + 1
			// Keep this block's bytes: later blocks read into a
			// fresh buffer.
			cand, found = d, true
			buf = make([]byte, f.bsize)
		default:
			back = mid - 1
		}
	}
	if !found {
		return 0, abi.ENOENT
	}
	lo, hi := 1, cand.Len()-1
	for lo <= hi {
		mid := lo + (hi-lo)/2
		e := cand.Entry(mid)
		switch c := bytes.Compare(name, e.Name); {
		case c == 0:
			return e.Nid, nil
		case c > 0:
			lo = mid + 1
		default:
			hi = mid - 1
		}
	}
	return 0, abi.ENOENT
}
