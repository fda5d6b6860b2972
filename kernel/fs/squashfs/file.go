package squashfs

import (
	"io"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Regular files (fs/squashfs/file.c): the blocks one after another from
// start_block, each as long on disk as its entry in the block list says
// (nothing for a sparse block); the tail, when the file has a fragment,
// at its offset in that fragment block. The block list is read as the
// file is, through a cursor (the next block's index, its place on the
// device, where its size word is), with a copy of the cursor kept every
// cursorStep blocks, so that reading anywhere costs at most cursorStep
// size words, as Linux's meta index (file.c's fill_meta_index) does.

// cursorStep is how many blocks apart the kept cursors are.
const cursorStep = 1024

// blockCursor is the place of block i of a file.
type blockCursor struct {
	i    uint64
	dev  int64  // where block i starts on the device
	list sq.Ref // block i's size word in the inode table
}

// block returns where block j starts on the device and its size word,
// the inode's cursor moved there.
func (ip *inode) block(j uint64) (int64, uint32, error) {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	ip.rewind(&ip.cur, j)
	return ip.advance(&ip.cur, j)
}

// peek is block without moving the inode's cursor: readahead looks at
// the blocks after the one read, which is read next.
func (ip *inode) peek(j uint64) (int64, uint32, error) {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	c := ip.cur
	ip.rewind(&c, j)
	return ip.advance(&c, j)
}

// rewind puts c back to the kept cursor at or before block j when c is
// past j. The caller holds ip.mu.
func (ip *inode) rewind(c *blockCursor, j uint64) {
	if j >= c.i {
		return
	}
	if k := j / cursorStep; k < uint64(len(ip.cps)) {
		*c = ip.cps[k]
	} else {
		*c = blockCursor{dev: int64(ip.sq.StartBlock), list: ip.extra}
	}
}

// advance moves c forward to block j and returns where it starts and its
// size word, keeping a copy of c every cursorStep blocks. On an error c
// goes back to the first block. The caller holds ip.mu.
func (ip *inode) advance(c *blockCursor, j uint64) (int64, uint32, error) {
	r := ip.f.reader(int64(ip.f.sb.InodeTableStart), c.list)
	var b [4]byte
	for {
		if c.i%cursorStep == 0 && c.i/cursorStep == uint64(len(ip.cps)) {
			ip.cps = append(ip.cps, *c)
		}
		if _, err := r.Read(b[:]); err != nil {
			*c = blockCursor{dev: int64(ip.sq.StartBlock), list: ip.extra}
			return 0, 0, err
		}
		w := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		if c.i == j {
			return c.dev, w, nil
		}
		size, _ := sq.DataBlockSize(w)
		c.i++
		c.dev += int64(size)
		c.list = r.ref()
	}
}

// ReadAt reads file data at off: whole blocks, sparse blocks as zeros,
// the tail from the fragment. A block that does not decompress to its
// length is EIO.
func (fi fileInode) ReadAt(p []byte, off int64) (int, error) {
	ip := fi.inode
	f := ip.f
	size := int64(ip.sq.FileSize)
	if off < 0 {
		return 0, abi.EINVAL
	}
	if off >= size {
		return 0, io.EOF
	}
	bs := int64(f.sb.BlockSize)
	nblocks := ip.sq.Blocks(f.sb.BlockLog)
	want := min(int64(len(p)), size-off)
	n := int64(0)
	for n < want {
		pos := off + n
		j := uint64(pos / bs)
		in := pos % bs
		blen := min(bs, size-int64(j)*bs) // the block's bytes in the file
		chunk := min(want-n, blen-in)
		if j < nblocks {
			dev, w, err := ip.block(j)
			if err != nil {
				return int(n), where(err, "inode %d: block list", ip.sq.InodeNumber)
			}
			if bsize, _ := sq.DataBlockSize(w); bsize == 0 {
				clear(p[n : n+chunk])
			} else {
				ip.readahead(j, nblocks)
				f.mu.Lock()
				b, err := f.dataBlock(f.data, dev, w, int(blen), true)
				if err == nil {
					copy(p[n:n+chunk], b[in:])
				}
				f.mu.Unlock()
				if err != nil {
					return int(n), where(err, "inode %d: block %d", ip.sq.InodeNumber, j)
				}
			}
		} else {
			if err := ip.readFragment(p[n:n+chunk], in, blen); err != nil {
				return int(n), where(err, "inode %d: fragment %d", ip.sq.InodeNumber, ip.sq.Fragment)
			}
		}
		n += chunk
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// readFragment copies the tail's bytes from in into p: the tail is tail
// bytes at the inode's offset in its fragment block.
func (ip *inode) readFragment(p []byte, in, tail int64) error {
	f := ip.f
	if ip.sq.Fragment == sq.InvalidFrag {
		return abi.Errorf(abi.EIO, "squashfs: inode %d: block past its block list", ip.sq.InodeNumber)
	}
	fe := ip.frag
	end := int64(ip.sq.Offset) + tail
	var next [fragRaDepth]sq.FragmentEntry
	n := 0
	for ; n < fragRaDepth; n++ {
		var err error
		if next[n], err = f.fragment(ip.sq.Fragment + 1 + uint32(n)); err != nil {
			break
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fe := range next[:n] {
		f.prefetch(f.frags, int64(fe.StartBlock), fe.Size)
	}
	data, err := f.dataBlock(f.frags, int64(fe.StartBlock), fe.Size, int(end), false)
	if err != nil {
		return err
	}
	copy(p, data[int64(ip.sq.Offset)+in:end])
	return nil
}

// fragment reads entry n of the fragment table (squashfs_frag_lookup).
func (f *fsys) fragment(n uint32) (sq.FragmentEntry, error) {
	slot, off := sq.TableRef(uint64(n), sq.FragmentEntrySize)
	if slot >= uint64(len(f.fragIndex)) {
		return sq.FragmentEntry{}, abi.Errorf(abi.EIO, "squashfs: fragment %d past the table", n)
	}
	var b [sq.FragmentEntrySize]byte
	if _, err := f.reader(0, sq.MakeRef(f.fragIndex[slot], uint16(off))).Read(b[:]); err != nil {
		return sq.FragmentEntry{}, err
	}
	fe, err := sq.DecodeFragmentEntry(b[:])
	if err != nil {
		return sq.FragmentEntry{}, err
	}
	if fe.StartBlock > 1<<62 {
		return sq.FragmentEntry{}, abi.Errorf(abi.EIO, "squashfs: fragment %d at %d", n, fe.StartBlock)
	}
	return fe, nil
}

// readahead asks the workers for the raDepth blocks after block j of the
// file (of nblocks), as a read of block j comes; past the file's last
// block, for the first blocks of the file whose data comes next on the
// device, if it has been looked up (fsys.upcoming): a walk such as
// fs2tar's reads the files of a directory in the order mksquashfs wrote
// them, so that the next file's first block is ready as it opens it.
// Once per block: reads smaller than a block ask once.
func (ip *inode) readahead(j, nblocks uint64) {
	f := ip.f
	ip.mu.Lock()
	asked := ip.raNext == j+1
	ip.raNext = j + 1
	ip.mu.Unlock()
	if asked {
		return
	}
	cur, k, n := ip, j+1, nblocks
	for left, hops := raDepth, 0; left > 0; {
		if k >= n {
			// The next file: the one whose blocks start where
			// cur's end.
			if n == 0 || hops == raDepth {
				return
			}
			dev, w, err := cur.peek(n - 1)
			if err != nil {
				return
			}
			size, _ := sq.DataBlockSize(w)
			f.mu.Lock()
			next := f.upcoming.m[dev+int64(size)]
			f.mu.Unlock()
			if next == nil || next == cur {
				return
			}
			cur, k, n = next, 0, next.sq.Blocks(f.sb.BlockLog)
			hops++
			continue
		}
		dev, w, err := cur.peek(k)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.prefetch(f.data, dev, w)
		f.mu.Unlock()
		k++
		left--
	}
}
