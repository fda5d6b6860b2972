package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Cluster chains (fatent.c, cache.c): a file's clusters are found by
// following the FAT from its first cluster. They are read once per inode
// into runs of physically contiguous clusters, so that data is read in
// large pieces, and changed together with the FAT by the writer.

// run is n clusters from cluster phys, holding the file's clusters from
// its logical cluster log on.
type run struct {
	log, phys, n uint32
}

// runsBytes returns the bytes the runs cover.
func runsBytes(runs []run, clusterSize uint32) int64 {
	if len(runs) == 0 {
		return 0
	}
	last := runs[len(runs)-1]
	return int64(last.log+last.n) * int64(clusterSize)
}

// fatReader reads FAT entries through a window of the first FAT, so that
// following a chain costs a device read per window, not per entry. Linux
// reads the first FAT whatever FAT32's ExtFlags say, and so do we. A
// writer (holding f.mu exclusively) changes entries in the window with
// put and writes the changed bytes to every FAT with flush, as
// fat_mirror_bhs copies the first FAT's sectors to the others.
type fatReader struct {
	f      *fsys
	base   int64 // the window's first byte in the FAT; -1 before the first read
	buf    []byte
	lo, hi int64 // the window's changed bytes, relative to base; lo == hi: none
}

// fatWindow is the window's size; fatSlack bytes past its end are kept
// zero so that the last FAT12 entry of a FAT whose length ends inside
// it decodes.
const (
	fatWindow = 16 << 10
	fatSlack  = 4
)

func (f *fsys) fatReader() *fatReader { return &fatReader{f: f, base: -1} }

// writer returns the writers' FAT window, kept from one operation to
// the next (the caller holds f.mu exclusively, and flushes it before
// letting go): every change of the FAT goes through it, so what it holds
// stays the FAT's, and a run of writes (a file written a MiB at a time,
// a tree copied in) reads each part of the FAT once, not once per call.
func (f *fsys) writer() *fatReader {
	if f.wfat == nil {
		f.wfat = f.fatReader()
	}
	return f.wfat
}

// fatOffset is the device offset of FAT n (0 is the one read).
func (f *fsys) fatOffset(n uint32) int64 {
	return (int64(f.FATStart) + int64(n)*int64(f.FATSectors)) * int64(f.SectorSize)
}

// get returns entry c: the next cluster, fat.EntFree, fat.EntEOF (the end
// of the chain; a bad-cluster mark reads as one, as in Linux), or EIO
// for an entry outside the FAT ("invalid access to FAT").
func (r *fatReader) get(c uint32) (uint32, error) {
	v, err := r.getRaw(c)
	if v == fat.EntBad {
		v = fat.EntEOF
	}
	return v, err
}

// getRaw is get with the bad-cluster mark returned as fat.EntBad.
func (r *fatReader) getRaw(c uint32) (uint32, error) {
	p, err := r.entry(c)
	if err != nil {
		return 0, err
	}
	return fat.GetEntry(r.f.Bits, c, p), nil
}

// put sets entry c to v (a cluster, fat.EntFree or fat.EntEOF).
func (r *fatReader) put(c, v uint32) error {
	p, err := r.entry(c)
	if err != nil {
		return err
	}
	fat.PutEntry(r.f.Bits, c, p, v)
	off, size := fat.EntryOffset(r.f.Bits, c)
	lo, hi := off-r.base, off-r.base+int64(size)
	if r.lo == r.hi {
		r.lo, r.hi = lo, hi
	} else {
		r.lo, r.hi = min(r.lo, lo), max(r.hi, hi)
	}
	return nil
}

// entry returns the window's bytes from entry c on, moving the window
// (and flushing its changes) when c is outside it.
func (r *fatReader) entry(c uint32) ([]byte, error) {
	f := r.f
	if !f.ValidCluster(c) {
		return nil, abi.Errorf(abi.EIO, "vfat: invalid access to FAT (entry %#08x)", c)
	}
	off, size := fat.EntryOffset(f.Bits, c)
	fatBytes := int64(f.FATSectors) * int64(f.SectorSize)
	// The slack holds zeros, not the FAT: it counts as inside the window
	// only past the FAT's end. An entry just past a window's read bytes is
	// read with its own window, as fat_ent_bread reads the block an entry
	// is in (fat12_ent_bread both blocks of one straddling two); taken
	// from the slack it read as free, and a free cluster allocated there
	// cross-linked two chains.
	held := r.base + int64(len(r.buf))
	if held < fatBytes {
		held -= fatSlack
	}
	if r.base < 0 || off < r.base || off+int64(size) > held {
		if err := r.flush(); err != nil {
			return nil, err
		}
		if r.buf == nil {
			r.buf = make([]byte, fatWindow+fatSlack)
		}
		// Half a window of room after off: a FAT12 entry may straddle.
		r.base = off &^ (fatWindow/2 - 1)
		n := min(int64(fatWindow), fatBytes-r.base)
		r.buf = r.buf[:n+fatSlack]
		clear(r.buf[n:])
		if _, err := f.dev.ReadAt(r.buf[:n], f.fatOffset(0)+r.base); err != nil {
			r.base = -1
			return nil, abi.Errorf(abi.EIO, "vfat: reading the FAT at %d: %v", off, err)
		}
	}
	return r.buf[off-r.base:], nil
}

// flush writes the window's changed bytes to every FAT.
func (r *fatReader) flush() error {
	if r.lo == r.hi {
		return nil
	}
	f := r.f
	fatBytes := int64(f.FATSectors) * int64(f.SectorSize)
	lo, hi := r.lo, min(r.hi, fatBytes-r.base) // never into the slack
	r.lo, r.hi = 0, 0
	for n := range f.NumFATs {
		if _, err := f.wdev.WriteAt(r.buf[lo:hi], f.fatOffset(n)+r.base+lo); err != nil {
			r.base = -1 // read again: the FAT does not hold the window's bytes
			return abi.Errorf(abi.EIO, "vfat: writing FAT %d: %v", n+1, err)
		}
	}
	return nil
}

// chainShared is chain for a caller holding f.mu shared, where several
// readers may want the runs at once: ip.rmu makes one read them.
func (ip *inode) chainShared() ([]run, error) {
	ip.rmu.Lock()
	defer ip.rmu.Unlock()
	return ip.chain()
}

// chain returns the inode's cluster chain as runs, reading it on first
// use (the caller holds f.mu exclusively, or shared with ip.rmu). A free entry inside the chain, an entry pointing outside the
// volume, or a chain longer than the volume (a loop) is EIO, as
// fat_get_cluster reports them.
func (ip *inode) chain() ([]run, error) {
	if ip.runs != nil || ip.fixedRoot() {
		return ip.runs, nil
	}
	runs, err := ip.f.readChain(ip.start(), ip.ipos)
	if err != nil {
		return nil, err
	}
	ip.runs = runs
	return runs, nil
}

// readChain follows the chain from start. An inode's runs are read under
// f.mu held shared by several readers at once: each reads its own.
func (f *fsys) readChain(start uint32, ipos int64) ([]run, error) {
	runs := []run{}
	if start == 0 {
		return runs, nil
	}
	r := f.fatReader()
	c, n := start, uint32(0)
	for {
		if !f.ValidCluster(c) {
			return nil, abi.Errorf(abi.EIO, "vfat: invalid cluster chain (i_pos %d): cluster %#x out of range", ipos, c)
		}
		if k := len(runs) - 1; k >= 0 && runs[k].phys+runs[k].n == c {
			runs[k].n++
		} else {
			runs = append(runs, run{log: n, phys: c, n: 1})
		}
		n++
		if n > f.Clusters {
			return nil, abi.Errorf(abi.EIO, "vfat: detected the cluster chain loop (i_pos %d)", ipos)
		}
		next, err := r.get(c)
		if err != nil {
			return nil, err
		}
		switch next {
		case fat.EntEOF:
			return runs, nil
		case fat.EntFree:
			return nil, abi.Errorf(abi.EIO, "vfat: invalid cluster chain (i_pos %d): cluster %#x is free", ipos, c)
		}
		c = next
	}
}

// findRun returns the run holding logical cluster lc, or false.
func findRun(runs []run, lc uint32) (run, bool) {
	lo, hi := 0, len(runs)
	for lo < hi {
		m := (lo + hi) / 2
		if runs[m].log+runs[m].n <= lc {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(runs) && runs[lo].log <= lc {
		return runs[lo], true
	}
	return run{}, false
}
