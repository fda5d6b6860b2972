package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/lklimg/lklimg/format/qcow2"
)

// The write side of a Qcow2File opened read-write (qcow2.txt, "Host
// cluster management" and "Cluster mapping").
//
// A guest write goes in place where its cluster is allocated with a
// refcount of one (the L2 entry's COPIED bit); anywhere else (not
// allocated, zeros, compressed, shared) it gets new clusters, taken at
// the end of the image file, filled with what the guest read there
// before for the part the write does not cover (copy on write: from the
// backing file, the decompressed cluster, zeros). With extended L2
// entries the unit is the subcluster: a write fills the subclusters it
// touches (writeSubclusters) and leaves the others as they were. Metadata is written
// through, in an order that keeps every reference counted: the data
// first, then the new clusters' refcounts, then the L2 entries (a new L2
// table written whole before its L1 entry), then the old clusters'
// refcounts lowered. A process killed at any point leaves clusters
// counted but not referenced (leaks, which qemu-img check -r leaks
// reclaims), never a reference without its count; nothing is cached
// that the file does not hold. Flush is the file's fdatasync.
//
// Freed clusters are not reused (allocation is at the end, as a fresh
// image fills): a guest discard punches them out of the image file
// instead, so the space goes back to the host.
//
// Refused for writing (read-only opens work): images with internal
// snapshots (shared clusters to copy on write and snapshot tables to
// keep), one QEMU marked corrupt, and one whose refcounts are not up to
// date (the dirty bit of lazy
// refcounts), which qemu-img check -r all repairs.
type qcow2Writer struct {
	mu      sync.Mutex        // one write at a time: allocation and metadata
	next    uint64            // host offset of the next cluster to allocate
	rtable  []uint64          // the refcount table: blocks' host offsets
	rtOff   uint64            // where the table lies
	rblocks map[uint64][]byte // refcount blocks read or made, by table index
	cow     []byte            // clusters for copy on write: the first
	cow2    []byte            // and the last of a write
	zeros   []byte            // a cluster of zeros
}

// errQcow2Write wraps the refusals to open an image for writing.
var errQcow2Write = errors.New("qcow2: cannot be written")

// errNoResize is the refusal to make a qcow2 image anew (truncated) or to
// change its disk's size.
var errNoResize = errors.New("writes in place but does not make anew, cut or grow yet")

// enableWrite makes q writable: the checks above, the refcount table
// read, the end of what is allocated found.
func (q *Qcow2File) enableWrite() error {
	h := q.h
	switch {
	case h.NbSnapshots > 0:
		return fmt.Errorf("%w: it has %d internal snapshots (qemu-img snapshot -l)", errQcow2Write, h.NbSnapshots)
	case h.IncompatibleFeatures&qcow2.IncompatCorrupt != 0:
		return fmt.Errorf("%w: QEMU marked it corrupt (qemu-img check -r all repairs it)", errQcow2Write)
	case h.IncompatibleFeatures&qcow2.IncompatDirty != 0:
		return fmt.Errorf("%w: its refcounts are not up to date (lazy refcounts, not closed cleanly: qemu-img check -r all repairs them)", errQcow2Write)
	}
	cs := uint64(h.ClusterSize())
	w := &qcow2Writer{rtOff: h.RefcountTableOffset, rblocks: map[uint64][]byte{}, cow: make([]byte, cs), cow2: make([]byte, cs), zeros: make([]byte, cs)}
	// The refcount table and its blocks must lie in the file (checked
	// before the table is read: its size is the header's word).
	st, err := q.raw.f.Stat()
	if err != nil {
		return err
	}
	fileSize := uint64(st.Size())
	tblBytes := uint64(h.RefcountTableClusters) * cs
	if h.RefcountTableOffset%cs != 0 || h.RefcountTableClusters == 0 ||
		h.RefcountTableOffset > fileSize || tblBytes > fileSize-h.RefcountTableOffset {
		return fmt.Errorf("%w: refcount table at %d, %d clusters, in a file of %d bytes", qcow2.ErrCorrupt, h.RefcountTableOffset, h.RefcountTableClusters, fileSize)
	}
	tbl := make([]byte, tblBytes)
	if err := q.raw.ReadAt([][]byte{tbl}, int64(h.RefcountTableOffset)); err != nil {
		return err
	}
	w.rtable = make([]uint64, len(tbl)/8)
	per := h.RefcountsPerBlock()
	blk := make([]byte, cs)
	// The next cluster is past the file's end and past every cluster
	// counted (a count may stand beyond the end of a file cut short).
	w.next = (fileSize + cs - 1) / cs * cs
	for i := range w.rtable {
		e, err := qcow2.RefcountBlockOffset(binary.BigEndian.Uint64(tbl[i*8:]), h)
		if err != nil {
			return err
		}
		if e > fileSize || e != 0 && cs > fileSize-e {
			return fmt.Errorf("%w: refcount block %d at %d, past the file's %d bytes", qcow2.ErrCorrupt, i, e, fileSize)
		}
		w.rtable[i] = e
		if e == 0 {
			continue
		}
		// Read to find the last cluster counted, not kept: blocks are
		// read again when a count changes.
		if err := q.raw.ReadAt([][]byte{blk}, int64(e)); err != nil {
			return err
		}
		for j := per; j > 0; j-- {
			if qcow2.Refcount(blk, j-1, h.RefcountOrder) != 0 {
				w.next = max(w.next, (uint64(i)*per+j)*cs)
				break
			}
		}
	}
	// An image that knows bitmaps QEMU keeps (autoclear bits) says, by
	// the bits, that they match the data; a writer that does not keep
	// them clears the bits (qcow2.txt, "autoclear_features").
	if h.Version >= 3 && h.AutoclearFeatures != 0 {
		var z [8]byte
		if err := q.raw.WriteAt([][]byte{z[:]}, 88); err != nil {
			return err
		}
		h.AutoclearFeatures = 0
	}
	q.w = w
	return nil
}

// block returns refcount block i (allocated: rtable[i] != 0), read once.
func (w *qcow2Writer) block(q *Qcow2File, i uint64) ([]byte, error) {
	if b, ok := w.rblocks[i]; ok {
		return b, nil
	}
	b := make([]byte, q.h.ClusterSize())
	if err := q.raw.ReadAt([][]byte{b}, int64(w.rtable[i])); err != nil {
		return nil, err
	}
	w.rblocks[i] = b
	return b, nil
}

// ReadOnly implements Backend.
func (q *Qcow2File) ReadOnly() bool { return q.w == nil }

// Flush implements Backend: every write went to the file; make it
// durable.
func (q *Qcow2File) Flush() error {
	if q.w == nil {
		return nil
	}
	return q.raw.Flush()
}

// WriteAt implements Backend.
func (q *Qcow2File) WriteAt(bufs [][]byte, off int64) error {
	if q.w == nil {
		return ErrReadOnly
	}
	q.w.mu.Lock()
	defer q.w.mu.Unlock()
	return q.write(bufs, off)
}

// write writes bufs at off, a run of clusters at a time (w.mu held).
func (q *Qcow2File) write(bufs [][]byte, off int64) error {
	n := totalLen(bufs)
	if off < 0 || off > q.size || n > q.size-off {
		return fmt.Errorf("virtio: qcow2: a write of %d bytes at %d past the disk's %d", n, off, q.size)
	}
	var part [][]byte
	for len(bufs) > 0 {
		c, err := q.lookup(uint64(off))
		if err != nil {
			return err
		}
		cs := q.h.ClusterSize()
		in := off & (cs - 1)
		if q.h.ExtendedL2() && c.Kind != qcow2.Compressed && (c.host == 0 || c.Copied) {
			if bufs, err = q.writeSubclusters(c, bufs, off); err != nil {
				return err
			}
			off = off&^(cs-1) + cs
			continue
		}
		if c.Kind == qcow2.Normal && c.Copied {
			// In place, with the clusters after it that follow it in
			// the file.
			k := q.inPlace(c, uint64(off), in+totalLen(bufs))
			part, bufs = cutBufs(part[:0], bufs, k-in)
			if err := q.raw.WriteAt(part, int64(c.host)+in); err != nil {
				return err
			}
			off += totalLen(part)
			continue
		}
		k, err := q.allocRun(uint64(off), totalLen(bufs))
		if err != nil {
			return err
		}
		if bufs, err = q.writeNew(bufs, off, k); err != nil {
			return err
		}
		off = off&^(cs-1) + k*cs
		if off > q.size {
			off = q.size
		}
	}
	return nil
}

// l2Entry is an L2 entry to write: the cluster descriptor and, with
// extended L2 entries, the subcluster bitmap (bits 0-31 allocated, 32-63
// zeros).
type l2Entry struct{ e, bitmap uint64 }

// allSubclusters are the 32 bits of every subcluster in a bitmap half.
const allSubclusters = 1<<qcow2.Subclusters - 1

// l2Ref is an L2 entry found for a guest cluster, with where it lies.
type l2Ref struct {
	qcow2.Cluster
	host   uint64 // Normal: the cluster's host offset
	tblOff uint64 // the L2 table's host offset, 0 when none
	l1i    uint64
	l2i    int
}

// lookup returns the L2 entry of the guest cluster holding off, for the
// write side (q.w set): a table or cluster past every cluster in use is
// refused, as a write there would grow the file with garbage.
func (q *Qcow2File) lookup(off uint64) (l2Ref, error) {
	h := q.h
	cb, l2b := h.ClusterBits, h.L2Bits()
	r := l2Ref{l1i: off >> (cb + l2b), l2i: int(off>>cb) & (1<<l2b - 1)}
	q.mu.Lock()
	l1 := q.l1[r.l1i]
	q.mu.Unlock()
	var err error
	if r.tblOff, err = qcow2.L2TableOffset(l1, h); err != nil || r.tblOff == 0 {
		return r, err
	}
	if r.tblOff+uint64(h.ClusterSize()) > q.w.next {
		return r, fmt.Errorf("%w: L2 table at %d, past the image's clusters", qcow2.ErrCorrupt, r.tblOff)
	}
	if l1&(1<<63) == 0 {
		return r, fmt.Errorf("%w: L2 table at %d shared (no COPIED bit) in an image without snapshots", qcow2.ErrCorrupt, r.tblOff)
	}
	tbl, err := q.table(r.tblOff)
	if err != nil {
		return r, err
	}
	q.mu.Lock()
	r.Cluster, err = qcow2.DecodeL2(tbl, r.l2i, h)
	q.mu.Unlock()
	r.host = r.HostOffset
	if err == nil && r.Kind != qcow2.Compressed && r.host != 0 && r.host+uint64(h.ClusterSize()) > q.w.next {
		// Written in place, it would land past every cluster in use.
		err = fmt.Errorf("%w: guest cluster at %d mapped to %d, past the image's clusters", qcow2.ErrCorrupt, off, r.host)
	}
	return r, err
}

// inPlace returns how far (bytes from the start of c's guest cluster, up
// to end) the clusters from c on are written in place: Normal, COPIED,
// and each next to the one before in the file, in the same L2 table.
func (q *Qcow2File) inPlace(c l2Ref, off uint64, end int64) int64 {
	cs := q.h.ClusterSize()
	n := cs
	for n < end {
		d, err := q.lookup(off&^uint64(cs-1) + uint64(n))
		if err != nil || d.tblOff != c.tblOff || d.Kind != qcow2.Normal || !d.Copied || d.host != c.host+uint64(n) {
			break
		}
		n += cs
	}
	return min(n, end)
}

// allocRun returns how many guest clusters from the one holding off, for
// a write of n bytes, take new clusters: those of one L2 table that are
// not written in place, at most 256 (1 MiB of 4 KiB clusters, 16 MiB of
// 64 KiB ones) per run, so that one write's metadata stays small.
func (q *Qcow2File) allocRun(off uint64, n int64) (int64, error) {
	cs := uint64(q.h.ClusterSize())
	first := off / cs
	last := (off + uint64(n) - 1) / cs
	perTable := uint64(1) << q.h.L2Bits()
	k := int64(1)
	for ci := first + 1; ci <= last && k < 256 && ci%perTable != 0; ci++ {
		c, err := q.lookup(ci * cs)
		if err != nil {
			return 0, err
		}
		if c.Kind == qcow2.Normal && c.Copied {
			break
		}
		k++
	}
	return k, nil
}

// writeNew writes the start of bufs, from off, into k new clusters for
// the k guest clusters from off's, and maps them; it returns the rest of
// bufs. A cluster the write covers only in part (the first, the last) is
// written whole: the guest's bytes there, the write's over them.
func (q *Qcow2File) writeNew(bufs [][]byte, off int64, k int64) ([][]byte, error) {
	cs := q.h.ClusterSize()
	start := off &^ (cs - 1)
	end := min(start+k*cs, q.size) // the guest bytes the clusters hold
	writeEnd := min(end, off+totalLen(bufs))
	var iov [][]byte
	// around fills b, the guest's bytes from at, with the write's over
	// those from off to upto.
	around := func(b []byte, at, upto int64) error {
		if err := q.mapped.ReadAt([][]byte{b}, at); err != nil {
			return err
		}
		var part [][]byte
		part, bufs = cutBufs(nil, bufs, upto-off)
		copyFromBufs(b[off-at:], part)
		iov = append(iov, b)
		off = upto
		return nil
	}
	if firstEnd := min(start+cs, end); off > start || writeEnd < firstEnd {
		if err := around(q.w.cow[:firstEnd-start], start, min(writeEnd, firstEnd)); err != nil {
			return nil, err
		}
	}
	if off < writeEnd {
		lastStart := (end - 1) &^ (cs - 1)
		upto := writeEnd
		if writeEnd < end {
			upto = lastStart
		}
		var part [][]byte
		part, bufs = cutBufs(nil, bufs, upto-off)
		iov = append(iov, part...)
		off = upto
		if writeEnd < end {
			if err := around(q.w.cow2[:end-lastStart], lastStart, writeEnd); err != nil {
				return nil, err
			}
		}
	}
	host, err := q.alloc(uint64(k))
	if err != nil {
		return nil, err
	}
	if err := q.raw.WriteAt(iov, int64(host)); err != nil {
		return nil, err
	}
	if err := q.addRefs(host/uint64(cs), uint64(k), 1); err != nil {
		return nil, err
	}
	entries := make([]l2Entry, k)
	for i := range entries {
		// With extended L2 entries, every subcluster is written.
		entries[i] = l2Entry{e: qcow2.NormalEntry(host + uint64(i)*uint64(cs)), bitmap: allSubclusters}
	}
	return bufs, q.remap(uint64(start), entries)
}

// writeSubclusters writes the start of bufs, from off, into the guest
// cluster c (extended L2 entries: its own cluster, or none yet) up to
// the cluster's end, and returns the rest of bufs. Only the subclusters
// the write touches are written: in place, or in a cluster taken now; a
// subcluster it covers in part and that is not allocated is written
// whole, with what the guest read around the write (the backing file's
// bytes, zeros). They become allocated; the others keep what they were
// (the point of subclusters: no copy of the rest of the cluster).
func (q *Qcow2File) writeSubclusters(c l2Ref, bufs [][]byte, off int64) ([][]byte, error) {
	cs := q.h.ClusterSize()
	sub := cs / qcow2.Subclusters
	start := off &^ (cs - 1)
	in := off - start
	end := min(in+totalLen(bufs), cs, q.size-start) // in the cluster
	alloc := uint32(c.Alloc)
	allocated := func(i int64) bool { return c.host != 0 && alloc&(1<<i) != 0 }
	// The bytes written, from lo to hi in the cluster: widened to whole
	// subclusters at ends whose subcluster is not allocated.
	lo, hi := in, end
	if !allocated(lo / sub) {
		lo = lo / sub * sub
	}
	if !allocated((hi - 1) / sub) {
		hi = min((hi+sub-1)/sub*sub, q.size-start)
	}
	var iov, part [][]byte
	if lo < in {
		b := q.w.cow[:in-lo]
		if err := q.mapped.ReadAt([][]byte{b}, start+lo); err != nil {
			return nil, err
		}
		iov = append(iov, b)
	}
	part, bufs = cutBufs(nil, bufs, end-in)
	iov = append(iov, part...)
	if hi > end {
		b := q.w.cow2[:hi-end]
		if err := q.mapped.ReadAt([][]byte{b}, start+end); err != nil {
			return nil, err
		}
		iov = append(iov, b)
	}
	host := c.host
	if host == 0 {
		var err error
		if host, err = q.alloc(1); err != nil {
			return nil, err
		}
	}
	if err := q.raw.WriteAt(iov, int64(host)+lo); err != nil {
		return nil, err
	}
	if c.host == 0 {
		if err := q.addRefs(host/uint64(cs), 1, 1); err != nil {
			return nil, err
		}
	}
	var bits uint64
	for i := lo / sub; i*sub < hi; i++ {
		bits |= 1 << i
	}
	zeros := uint64(c.Zeros) &^ bits
	e := l2Entry{e: qcow2.NormalEntry(host), bitmap: zeros<<32 | uint64(alloc) | bits}
	if c.tblOff == 0 {
		return bufs, q.remap(uint64(start), []l2Entry{e})
	}
	_, err := q.setEntries(c, []l2Entry{e})
	return bufs, err
}

// copyFromBufs copies the bytes of bufs into b.
func copyFromBufs(b []byte, bufs [][]byte) {
	for _, p := range bufs {
		b = b[copy(b, p):]
	}
}

// alloc takes n clusters at the end of the image and returns the first's
// host offset. They count nothing yet: the caller writes them, then
// counts them (addRefs). The refcount table is grown first when the new
// clusters and the blocks counting them could pass what it covers.
func (q *Qcow2File) alloc(n uint64) (uint64, error) {
	w := q.w
	cs := uint64(q.h.ClusterSize())
	per := q.h.RefcountsPerBlock()
	// Room for the clusters, a block for each per of them, a larger
	// table and its blocks.
	need := w.next/cs + n + n/per + 2 + 2*uint64(len(w.rtable))*8/cs + 2
	if need > uint64(len(w.rtable))*per {
		if err := q.growRefcountTable(need); err != nil {
			return 0, err
		}
	}
	if w.next > 1<<56-n*cs {
		return 0, fmt.Errorf("virtio: qcow2: the image file would pass 64 PiB")
	}
	at := w.next
	w.next += n * cs
	return at, nil
}

// addRefs adds delta to the refcounts of the n host clusters from first,
// allocating refcount blocks that are missing; a count that drops to zero
// frees its cluster.
func (q *Qcow2File) addRefs(first, n uint64, delta int64) error {
	w, h := q.w, q.h
	per := h.RefcountsPerBlock()
	for n > 0 {
		bi, i := first/per, first%per
		k := min(n, per-i)
		blk, err := q.refBlock(bi)
		if err != nil {
			return err
		}
		lo, hi := len(blk), 0
		for j := i; j < i+k; j++ {
			v := qcow2.Refcount(blk, j, h.RefcountOrder)
			nv := uint64(int64(v) + delta)
			if delta < 0 && v < uint64(-delta) || delta > 0 && nv > h.MaxRefcount() {
				return fmt.Errorf("%w: refcount of cluster %d is %d, cannot add %d", qcow2.ErrCorrupt, bi*per+j, v, delta)
			}
			a, b := qcow2.SetRefcount(blk, j, h.RefcountOrder, nv)
			lo, hi = min(lo, a), max(hi, b)
		}
		if err := q.raw.WriteAt([][]byte{blk[lo:hi]}, int64(w.rtable[bi])+int64(lo)); err != nil {
			return err
		}
		first += k
		n -= k
	}
	return nil
}

// refBlock returns refcount block bi, allocated if missing: the new block
// is written, its own cluster counted (in itself, or in the block that
// covers it), and then entered in the refcount table.
func (q *Qcow2File) refBlock(bi uint64) ([]byte, error) {
	w, h := q.w, q.h
	if bi >= uint64(len(w.rtable)) {
		return nil, fmt.Errorf("virtio: qcow2: refcount block %d past the table's %d", bi, len(w.rtable))
	}
	if w.rtable[bi] != 0 {
		return w.block(q, bi)
	}
	cs := uint64(h.ClusterSize())
	per := h.RefcountsPerBlock()
	at := w.next
	w.next += cs
	blk := make([]byte, cs)
	self := at/cs/per == bi
	if self {
		qcow2.SetRefcount(blk, at/cs%per, h.RefcountOrder, 1)
	}
	if err := q.raw.WriteAt([][]byte{blk}, int64(at)); err != nil {
		return nil, err
	}
	if !self {
		if err := q.addRefs(at/cs, 1, 1); err != nil {
			return nil, err
		}
	}
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], at)
	if err := q.raw.WriteAt([][]byte{e[:]}, int64(w.rtOff+bi*8)); err != nil {
		return nil, err
	}
	w.rtable[bi] = at
	w.rblocks[bi] = blk
	return blk, nil
}

// growRefcountTable moves the refcount table to new clusters at the end,
// large enough to cover need clusters and then twice what it covered: the
// new table is counted and written, the header pointed at it (one write
// of its offset and size), and the old table's clusters freed.
func (q *Qcow2File) growRefcountTable(need uint64) error {
	w, h := q.w, q.h
	cs := uint64(h.ClusterSize())
	per := h.RefcountsPerBlock()
	entries := max(2*uint64(len(w.rtable)), (need+per-1)/per)
	clusters := (entries*8 + cs - 1) / cs
	if clusters > 1<<24 {
		return fmt.Errorf("virtio: qcow2: a refcount table of %d clusters", clusters)
	}
	entries = clusters * cs / 8
	// The old table still covers the new one: alloc's margin keeps
	// room for it.
	at := w.next
	if at/cs+clusters+clusters/per+2 > uint64(len(w.rtable))*per {
		return fmt.Errorf("virtio: qcow2: no room to grow the refcount table")
	}
	w.next += clusters * cs
	if err := q.addRefs(at/cs, clusters, 1); err != nil {
		return err
	}
	tbl := make([]byte, clusters*cs)
	for i, e := range w.rtable {
		binary.BigEndian.PutUint64(tbl[i*8:], e)
	}
	if err := q.raw.WriteAt([][]byte{tbl}, int64(at)); err != nil {
		return err
	}
	var hdr [12]byte
	binary.BigEndian.PutUint64(hdr[:], at)
	binary.BigEndian.PutUint32(hdr[8:], uint32(clusters))
	if err := q.raw.WriteAt([][]byte{hdr[:]}, 48); err != nil {
		return err
	}
	oldOff, oldClusters := w.rtOff, uint64(h.RefcountTableClusters)
	w.rtOff = at
	w.rtable = append(w.rtable, make([]uint64, entries-uint64(len(w.rtable)))...)
	h.RefcountTableOffset, h.RefcountTableClusters = at, uint32(clusters)
	return q.addRefs(oldOff/cs, oldClusters, -1)
}

// remap sets the L2 entries of the guest clusters from off (all in one L2
// table) and lowers the counts of the clusters they pointed to. A missing
// table is made: written whole, counted, then entered in the L1 table.
func (q *Qcow2File) remap(off uint64, entries []l2Entry) error {
	h := q.h
	c, err := q.lookup(off)
	if err != nil {
		return err
	}
	if c.tblOff == 0 {
		cs := uint64(h.ClusterSize())
		es := uint64(h.L2EntrySize())
		tbl := make([]byte, cs)
		for i, e := range entries {
			e.put(tbl[(uint64(c.l2i)+uint64(i))*es:], h)
		}
		at, err := q.alloc(1)
		if err != nil {
			return err
		}
		if err := q.raw.WriteAt([][]byte{tbl}, int64(at)); err != nil {
			return err
		}
		if err := q.addRefs(at/cs, 1, 1); err != nil {
			return err
		}
		var e [8]byte
		binary.BigEndian.PutUint64(e[:], qcow2.L1Entry(at))
		if err := q.raw.WriteAt([][]byte{e[:]}, int64(h.L1TableOffset+c.l1i*8)); err != nil {
			return err
		}
		q.mu.Lock()
		q.l1[c.l1i] = qcow2.L1Entry(at)
		q.mu.Unlock()
		return nil
	}
	old, err := q.setEntries(c, entries)
	if err != nil {
		return err
	}
	return q.release(old, entries, false)
}

// setEntries writes entries over those of c's L2 table from c's on, and
// returns the old ones. The file first, then the cached table, if any,
// patched (and l2gen bumped): a reader that read the table from the file
// before the write does not keep its copy.
func (q *Qcow2File) setEntries(c l2Ref, entries []l2Entry) ([]qcow2.Cluster, error) {
	h := q.h
	tbl, err := q.table(c.tblOff)
	if err != nil {
		return nil, err
	}
	es := h.L2EntrySize()
	lo := c.l2i * es
	old := make([]qcow2.Cluster, len(entries))
	buf := make([]byte, len(entries)*es)
	q.mu.Lock()
	for i, e := range entries {
		if old[i], err = qcow2.DecodeL2(tbl, c.l2i+i, h); err != nil {
			q.mu.Unlock()
			return nil, err
		}
		e.put(buf[i*es:], h)
	}
	q.mu.Unlock()
	if err := q.raw.WriteAt([][]byte{buf}, int64(c.tblOff)+int64(lo)); err != nil {
		return nil, err
	}
	q.mu.Lock()
	if t, ok := q.l2[c.tblOff]; ok {
		copy(t[lo:], buf)
	}
	q.l2gen++
	q.mu.Unlock()
	return old, nil
}

// put encodes the entry at the start of b (8 bytes, or 16 with extended
// L2 entries).
func (e l2Entry) put(b []byte, h *qcow2.Header) {
	binary.BigEndian.PutUint64(b, e.e)
	if h.ExtendedL2() {
		binary.BigEndian.PutUint64(b[8:], e.bitmap)
	}
}

// release lowers the counts of the clusters old entries held that the new
// entries no longer do; with punch, a cluster freed is punched out of the
// image file (a guest discard).
func (q *Qcow2File) release(old []qcow2.Cluster, entries []l2Entry, punch bool) error {
	cs := uint64(q.h.ClusterSize())
	for i, c := range old {
		var first, n uint64
		switch {
		case c.Kind == qcow2.Compressed:
			first, n = c.CompressedClusters(q.h)
		case c.HostOffset != 0 && entries[i].e&^(1<<63|1) != c.HostOffset:
			first, n = c.HostOffset/cs, 1
		default:
			continue
		}
		if err := q.addRefs(first, n, -1); err != nil {
			return err
		}
		if punch && c.Kind != qcow2.Compressed {
			if err := q.raw.Discard(int64(first*cs), int64(n*cs)); err != nil && !errors.Is(err, errors.ErrUnsupported) {
				return err
			}
		}
	}
	return nil
}

// Discard implements Backend: whole clusters are unmapped (read from the
// backing file's zeros... as zeros: a zero entry where there is a
// backing file or version 2 cannot say zero) and their clusters freed;
// the parts of clusters at the ends are written with zeros.
func (q *Qcow2File) Discard(off, n int64) error { return q.zeroRange(off, n, true) }

// WriteZeroes implements Backend: whole clusters become zero entries
// (version 3; an allocated cluster stays allocated, as the contract
// says), the parts at the ends written with zeros.
func (q *Qcow2File) WriteZeroes(off, n int64) error { return q.zeroRange(off, n, false) }

func (q *Qcow2File) zeroRange(off, n int64, discard bool) error {
	if q.w == nil {
		return ErrReadOnly
	}
	if off < 0 || n < 0 || off > q.size || n > q.size-off {
		return fmt.Errorf("virtio: qcow2: %d bytes at %d past the disk's %d", n, off, q.size)
	}
	q.w.mu.Lock()
	defer q.w.mu.Unlock()
	cs := q.h.ClusterSize()
	end := off + n
	first := (off + cs - 1) &^ (cs - 1)
	last := end &^ (cs - 1)
	if end == q.size {
		last = (end + cs - 1) &^ (cs - 1) // the disk's last cluster, even short
	}
	if first >= last {
		return q.writeZeros(off, n)
	}
	if err := q.writeZeros(off, first-off); err != nil {
		return err
	}
	if end < last {
		last = end &^ (cs - 1)
	}
	if err := q.writeZeros(last, end-last); err != nil {
		return err
	}
	// Version 2 has no zero entries: without a backing file an
	// unallocated cluster reads as zeros; with one, zeros are written.
	if q.h.Version < 3 && q.backing != nil {
		return q.writeZeros(first, last-first)
	}
	perTable := int64(1) << q.h.L2Bits()
	for ci := first / cs; ci < last/cs; {
		k := min(last/cs-ci, perTable-ci%perTable)
		if err := q.zeroClusters(uint64(ci*cs), int(k), discard); err != nil {
			return err
		}
		ci += k
	}
	return nil
}

// writeZeros writes n zero bytes at off through the write path.
func (q *Qcow2File) writeZeros(off, n int64) error {
	for n > 0 {
		k := min(n, int64(len(q.w.zeros)))
		if err := q.write([][]byte{q.w.zeros[:k]}, off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

// zeroClusters makes the k whole guest clusters from off (one L2 table)
// read as zeros: unallocated (discard, no backing file, or version 2), a
// zero entry keeping the cluster (write zeroes of a cluster written in
// place), or one without.
func (q *Qcow2File) zeroClusters(off uint64, k int, discard bool) error {
	h := q.h
	cs := uint64(h.ClusterSize())
	c, err := q.lookup(off)
	if err != nil {
		return err
	}
	if c.tblOff == 0 && q.backing == nil {
		return nil // unallocated already: zeros
	}
	entries := make([]l2Entry, k)
	for i := range entries {
		d, err := q.lookup(off + uint64(i)*cs)
		if err != nil {
			return err
		}
		keep := !discard && d.Copied && d.HostOffset != 0 && (d.Kind == qcow2.Normal || d.Kind == qcow2.Zero)
		switch {
		case h.ExtendedL2():
			// Every subcluster zeros, its cluster kept for a write
			// zeroes of one written in place; or none, unallocated,
			// where that reads as zeros.
			switch {
			case keep:
				entries[i] = l2Entry{e: qcow2.NormalEntry(d.HostOffset), bitmap: allSubclusters << 32}
			case q.backing == nil:
				entries[i] = l2Entry{}
			default:
				entries[i] = l2Entry{bitmap: allSubclusters << 32}
			}
		case h.Version < 3 || discard && q.backing == nil:
			// No zero entries (version 2 gets here without a
			// backing file), or none needed.
		case d.Kind == qcow2.Unallocated && q.backing == nil:
		case keep:
			entries[i] = l2Entry{e: qcow2.ZeroEntry(d.HostOffset)}
		default:
			entries[i] = l2Entry{e: qcow2.ZeroEntry(0)}
		}
	}
	if c.tblOff == 0 {
		return q.remap(off, entries)
	}
	old, err := q.setEntries(c, entries)
	if err != nil {
		return err
	}
	return q.release(old, entries, discard)
}
