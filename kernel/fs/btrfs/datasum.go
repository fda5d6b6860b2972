package btrfs

import (
	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Data checksums (fs/btrfs/file-item.c btrfs_lookup_bio_sums, inode.c
// btrfs_check_data_csum): the checksum tree holds one checksum per
// sector of file data, in EXTENT_CSUM items keyed by the logical address
// of their first sector. A read checks every whole sector it reads of a
// regular extent (the on-disk bytes of a compressed one) and fails with
// EIO where one differs, as Linux does. Files marked NODATASUM (nodatacow)
// have none; a sector of another file the tree has no checksum for is a
// csum hole, EIO as in Linux.

// verifyData checks the sectors of b, read from logical address at
// (both sector-aligned).
func (f *fsys) verifyData(b []byte, at uint64) error {
	if f.csumTree == nil || len(b) == 0 {
		return nil
	}
	sec := uint64(f.sb.SectorSize)
	cs := disk.CsumLen(f.sb.CsumType)
	end := at + uint64(len(b))
	var sum [disk.CsumSize]byte
	check := func(s uint64, want []byte) error {
		disk.Checksum(f.sb.CsumType, b[s-at:s-at+sec], &sum)
		if string(sum[:cs]) != string(want) {
			return abi.Errorf(abi.EIO, "btrfs: csum failed: logical %d: %s %x, expected %x",
				s, disk.CsumName(f.sb.CsumType), sum[:cs], want)
		}
		return nil
	}
	if len(f.logSums) > 0 {
		for s := at; s < end; s += sec {
			if want, ok := f.logSums[s]; ok {
				if err := check(s, want); err != nil {
					return err
				}
			}
		}
	}
	// A sector with no checksum is a csum hole: btrfs_lookup_bio_sums
	// leaves a zero checksum for it, which the data then fails (EIO).
	next := at
	holes := func(upto uint64) error {
		for ; next < upto; next += sec {
			if _, ok := f.logSums[next]; !ok {
				return abi.Errorf(abi.EIO, "btrfs: csum hole found for disk bytenr range [%d, %d)", next, next+sec)
			}
		}
		return nil
	}
	err := f.eachSum(f.csumTree, at, end, func(s uint64, want []byte) error {
		if err := holes(s); err != nil {
			return err
		}
		next = s + sec
		if _, ok := f.logSums[s]; ok {
			return nil // the log's, checked above
		}
		return check(s, want)
	})
	if err != nil {
		return err
	}
	return holes(end)
}

// eachSum calls fn with each sector in [lo, hi) that t's EXTENT_CSUM
// items have a checksum of, and the checksum, in order: one search, then
// the items in key order (btrfs_lookup_csums_list).
func (f *fsys) eachSum(t *tree, lo, hi uint64, fn func(s uint64, sum []byte) error) error {
	sec := uint64(f.sb.SectorSize)
	cs := uint64(disk.CsumLen(f.sb.CsumType))
	k := disk.Key{Objectid: disk.ExtentCsumObjectid, Type: disk.ExtentCsumKey, Offset: lo}
	var c cursor
	if err := t.seek(k, &c); err != nil {
		return err
	}
	for {
		it, ok := c.item()
		if ok && it.Key.Objectid == disk.ExtentCsumObjectid && it.Key.Type == disk.ExtentCsumKey {
			if it.Key.Offset >= hi {
				return nil
			}
			n := uint64(len(it.Data)) / cs
			for s := max(lo, it.Key.Offset); s < min(hi, it.Key.Offset+n*sec); s += sec {
				i := (s - it.Key.Offset) / sec * cs
				if err := fn(s, it.Data[i:i+cs]); err != nil {
					return err
				}
			}
		} else if ok && it.Key.Compare(k) > 0 {
			return nil
		}
		if more, err := c.next(); err != nil || !more {
			return err
		}
	}
}

// readVerified reads len(p) bytes of file data at logical address at and
// checks them: the whole sectors around them are read and verified
// (into p itself when it is whole sectors).
func (f *fsys) readVerified(p []byte, at uint64) error {
	if f.csumTree == nil {
		return f.readMirrored(p, at, false, "file data")
	}
	sec := uint64(f.sb.SectorSize)
	lo := at &^ (sec - 1)
	hi := (at + uint64(len(p)) + sec - 1) &^ (sec - 1)
	buf := p
	if lo != at || hi != at+uint64(len(p)) {
		if hi-lo <= sendBuf {
			bp := f.bufs.Get().(*[]byte)
			defer f.bufs.Put(bp)
			buf = (*bp)[:hi-lo]
		} else {
			buf = make([]byte, hi-lo)
		}
	}
	if err := f.readMirrored(buf, lo, true, "file data"); err != nil {
		return err
	}
	if &buf[0] != &p[0] {
		copy(p, buf[at-lo:])
	}
	return nil
}

// readMirrored reads len(p) bytes of file data at logical address at
// (in one chunk, as an extent is), checked against their checksums when
// verify (p whole sectors), from the first copy that reads and passes:
// a bad or missing copy is read again from the next, as Linux's read
// repair does (btrfs_repair_one_sector). The first copy's error when
// none does.
func (f *fsys) readMirrored(p []byte, at uint64, verify bool, what string) error {
	var first error
	for m := range f.mirrors(at) {
		err := f.readLogical(p, at, m, what)
		if err == nil && verify {
			err = f.verifyData(p, at)
		}
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// openCsumTree finds the checksum tree (its ROOT_ITEM in the tree of
// roots); without one, data is not checked.
func (f *fsys) openCsumTree() error {
	it, ok, err := f.rootTree.lookup(disk.Key{Objectid: disk.CsumTreeObjectid, Type: disk.RootItemKey})
	if err != nil || !ok {
		return err
	}
	ri, err := disk.DecodeRootItem(it.Data)
	if err != nil {
		return err
	}
	f.csumTree = &tree{f: f, id: disk.CsumTreeObjectid, bytenr: ri.Bytenr, level: ri.Level, gen: ri.Generation}
	return nil
}
