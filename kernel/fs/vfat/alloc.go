package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Cluster allocation (fatent.c): next-fit from the cluster after the last
// one allocated (prev_free), wrapping at the end of the volume, each
// cluster found linked to the one before and the last marked EOF, so
// that sequential writes take consecutive clusters. The free count is
// counted on the FAT once and kept; FSInfo's hints are written back at
// sync. Every function here is called with f.mu held exclusively, and
// changes the FAT through w, which the caller flushes.

// countFree returns the count of free clusters, counting them on the FAT
// the first time (fat_count_free_clusters): FSInfo's count is a hint Linux
// trusts only with usefree. The caller holds f.mu exclusively.
func (f *fsys) countFree() (int64, error) {
	if f.freeClusters >= 0 {
		return f.freeClusters, nil
	}
	r := f.fatReader()
	var n int64
	for c := uint32(fat.FirstCluster); c < f.MaxCluster; c++ {
		v, err := r.getRaw(c)
		if err != nil {
			return 0, err
		}
		if v == fat.EntFree {
			n++
		}
	}
	f.freeClusters = n
	return n, nil
}

// allocClusters takes n free clusters (fat_alloc_clusters), chained in
// the order found, the last marked EOF, and returns them. ENOSPC, with
// nothing taken, when fewer are free.
func (f *fsys) allocClusters(w *fatReader, n int) ([]uint32, error) {
	free, err := f.countFree()
	if err != nil {
		return nil, err
	}
	if free < int64(n) {
		return nil, abi.Errorf(abi.ENOSPC, "vfat: %d clusters wanted, %d free", n, free)
	}
	got := make([]uint32, 0, n)
	c := f.prevFree
	for range f.Clusters {
		c++
		if c >= f.MaxCluster {
			c = fat.FirstCluster
		}
		v, err := w.getRaw(c)
		if err != nil {
			return nil, err
		}
		if v != fat.EntFree {
			continue
		}
		if err := w.put(c, fat.EntEOF); err != nil {
			return nil, err
		}
		if k := len(got); k > 0 {
			if err := w.put(got[k-1], c); err != nil {
				return nil, err
			}
		}
		got = append(got, c)
		if len(got) == n {
			break
		}
	}
	if len(got) < n {
		// The count was wrong: undo, and know better.
		for _, c := range got {
			if err := w.put(c, fat.EntFree); err != nil {
				return nil, err
			}
		}
		f.freeClusters = int64(len(got))
		f.fsinfoDirty = true
		return nil, abi.Errorf(abi.ENOSPC, "vfat: %d clusters wanted, %d found free", n, len(got))
	}
	f.prevFree = got[n-1]
	f.freeClusters -= int64(n)
	f.fsinfoDirty = true
	return got, nil
}

// freeChain frees the chain from c on (fat_free_clusters). A free entry
// inside it is EIO ("deleting FAT entry beyond EOF").
func (f *fsys) freeChain(w *fatReader, c uint32) error {
	for n := uint32(0); c != fat.EntEOF; n++ {
		if n > f.Clusters {
			return abi.Errorf(abi.EIO, "vfat: freeing a chain: loop at cluster %d", c)
		}
		next, err := w.get(c)
		if err != nil {
			return err
		}
		if next == fat.EntFree {
			return abi.Errorf(abi.EIO, "vfat: deleting FAT entry beyond EOF (cluster %d)", c)
		}
		if err := w.put(c, fat.EntFree); err != nil {
			return err
		}
		if f.freeClusters >= 0 {
			f.freeClusters++
		}
		f.fsinfoDirty = true
		c = next
	}
	return nil
}

// chainClusters returns how many clusters the inode's chain holds.
func chainClusters(runs []run) uint32 {
	if len(runs) == 0 {
		return 0
	}
	l := runs[len(runs)-1]
	return l.log + l.n
}

// lastCluster returns the chain's last cluster, 0 for an empty chain.
func lastCluster(runs []run) uint32 {
	if len(runs) == 0 {
		return 0
	}
	l := runs[len(runs)-1]
	return l.phys + l.n - 1
}

// grow adds n clusters at the end of the inode's chain, linking them from
// its last cluster or making the first its start, and returns them. The
// entry is not written: the caller does (writeInode).
func (ip *inode) grow(w *fatReader, n int) ([]uint32, error) {
	f := ip.f
	runs, err := ip.chain()
	if err != nil {
		return nil, err
	}
	got, err := f.allocClusters(w, n)
	if err != nil {
		return nil, err
	}
	if last := lastCluster(runs); last != 0 {
		if err := w.put(last, got[0]); err != nil {
			return nil, err
		}
	} else if ip.ipos == 0 {
		return nil, abi.Errorf(abi.EIO, "vfat: the root directory has no cluster")
	} else {
		ip.de.SetCluster(f.Bits, got[0])
	}
	lc := chainClusters(runs)
	for _, c := range got {
		if k := len(runs) - 1; k >= 0 && runs[k].phys+runs[k].n == c {
			runs[k].n++
		} else {
			runs = append(runs, run{log: lc, phys: c, n: 1})
		}
		lc++
	}
	ip.runs = runs
	return got, nil
}

// cut keeps the first keep clusters of the inode's chain and frees the
// rest (fat_free): the kept last one is marked EOF, or the start is 0.
func (ip *inode) cut(w *fatReader, keep uint32) error {
	f := ip.f
	runs, err := ip.chain()
	if err != nil {
		return err
	}
	if keep >= chainClusters(runs) {
		return nil
	}
	var rest uint32
	if keep == 0 {
		rest = ip.start()
		ip.de.SetCluster(f.Bits, 0)
	} else {
		r, _ := findRun(runs, keep-1)
		last := r.phys + keep - 1 - r.log
		if rest, err = w.get(last); err != nil {
			return err
		}
		if err := w.put(last, fat.EntEOF); err != nil {
			return err
		}
	}
	// Trim the runs.
	var kept []run
	for _, r := range runs {
		if r.log >= keep {
			break
		}
		r.n = min(r.n, keep-r.log)
		kept = append(kept, r)
	}
	ip.runs = append([]run{}, kept...)
	if rest == fat.EntEOF || rest == fat.EntFree {
		return nil
	}
	return f.freeChain(w, rest)
}
