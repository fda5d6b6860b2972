package erofsutils

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	disk "github.com/lklimg/lklimg/format/erofs"
)

// Compressed files (-z), as mkfs.erofs writes them: each file is cut
// into extents, each the longest run of its bytes that compresses into
// one physical cluster (pcluster: -C, a block by default), the
// compressed bytes at the pcluster's end after zeros (0padding,
// INCOMPAT_ZERO_PADDING); a run that does not compress below a block is
// stored as it is (a PLAIN pcluster, its block's worth of bytes). The
// lcluster indexes (4 KiB logical clusters) say where each extent
// starts and in which pcluster, compact (COMPRESSED_COMPACT, with
// COMPACTED_2B) as mkfs.erofs writes them by default, or full with
// -E legacy-compress.
//
// Workers: a file is cut into segments of segmentSize bytes, each
// compressed on its own (an extent never spans two), so the image does
// not depend on how many workers there are; the segments are read in
// order, compressed on the pool, and written in order by one writer.
//
// A file whose extents all stay PLAIN is written as an uncompressed one
// (its blocks are the same bytes), its tail inline when it fits, as
// mkfs.erofs falls back to an uncompressed file when compressing saves
// nothing.

// segmentSize is the bytes of a file compressed as one job.
const segmentSize = 1 << 20

// maxExtent bounds an extent's uncompressed bytes (a window the
// compressor is given at most) for the compressors that search the
// input's length (DEFLATE, Zstandard, MicroLZMA: their windows are
// declared this size); LZ4's extents run to the segment's end (as
// mkfs.erofs's, up to 900 KiB in 1.5), a pcluster of zeros holding a
// megabyte.
const maxExtent = 256 << 10

// lclusterBits is the logical cluster's size: a block.
const lclusterBits = blkszBits

// zext is one extent of a compressed file: where it starts in the file
// and whether its pcluster is PLAIN. Its pcluster's blocks follow the
// one before's.
type zext struct {
	la     int64
	plain  bool
	blocks uint32 // the pcluster's (1 but with big pclusters)
}

// zfile is a compressed file's map.
type zfile struct {
	ext    []zext
	blocks uint32 // i_u: the pclusters' blocks
	first  uint32 // the first pcluster's block
	size   int64
	full   bool // full indexes (-E legacy-compress)
	alg    uint8
	big    bool // big pclusters (-C past a block)
	// idata is the last extent's pcluster when it is inline after the
	// indexes (ztailpacking): compressed, or PLAIN bytes.
	idata []byte
}

func (z *zfile) layout() int {
	if z.full {
		return disk.InodeCompressedFull
	}
	return disk.InodeCompressedCompact
}

// advise is the map header's h_advise.
func (z *zfile) advise() uint16 {
	var a uint16
	if !z.full {
		a = disk.AdviseCompacted2B
	}
	if z.big {
		// Heads of both types may have big pclusters; mkfs.erofs
		// sets the second for compact indexes only.
		a |= disk.AdviseBigPcluster1
		if !z.full {
			a |= disk.AdviseBigPcluster2
		}
	}
	if z.idata != nil {
		a |= disk.AdviseInlinePcluster
	}
	return a
}

func (z *zfile) totalidx() uint64 { return uint64((z.size + blockSize - 1) >> lclusterBits) }

// metaLen is the bytes after the inode and xattrs (inline of them):
// the map header, aligned, and the indexes.
func (z *zfile) metaLen(inline int) int {
	ebase := disk.MapIndexStart(int64(inline), z.full)
	n := int(ebase) - inline
	if z.full {
		return n + int(z.totalidx())*disk.LclusterIndexSize + len(z.idata)
	}
	return n + disk.CompactIndexesSize(ebase, z.totalidx(), z.advise()) + len(z.idata)
}

// indexes returns each lcluster's index.
func (z *zfile) indexes() []disk.LclusterIndex {
	n := z.totalidx()
	idx := make([]disk.LclusterIndex, n)
	head := make([]bool, n)
	pblk := z.first
	for _, e := range z.ext {
		h := e.la >> lclusterBits
		t := uint8(disk.LclusterTypeHead1)
		if e.plain {
			t = disk.LclusterTypePlain
		}
		idx[h] = disk.LclusterIndex{Type: t, ClusterOfs: uint32(e.la & (blockSize - 1)), Pblk: pblk}
		if z.big && !e.plain && uint64(h+1) < n {
			// The first NONHEAD after a compressed head says its
			// pcluster's blocks (D0_CBLKCNT); a compressed extent
			// always runs past its head's lcluster (it holds more
			// than its pcluster's blocks).
			idx[h+1].CompressedBlks = max(e.blocks, 1)
		}
		pblk += e.blocks
		head[h] = true
	}
	last := uint64(0)
	for j := range n {
		if head[j] {
			last = j
			continue
		}
		next := j + 1
		for next < n && !head[next] {
			next++
		}
		idx[j] = disk.LclusterIndex{Type: disk.LclusterTypeNonhead, Delta: [2]uint32{uint32(j - last), uint32(next - j)},
			CompressedBlks: idx[j].CompressedBlks}
	}
	return idx
}

// encodeMeta writes the map header and the indexes into p (metaLen
// bytes), the inode and xattrs taking inline bytes before it.
func (z *zfile) encodeMeta(p []byte, inline int) {
	clear(p)
	ebase := disk.MapIndexStart(int64(inline), z.full)
	hdr := int(ebase) - inline - disk.MapHeaderSize
	if z.full {
		hdr -= 8
	}
	disk.MapHeader{Advise: z.advise(), AlgorithmType: z.alg, ClusterBits: lclusterBits - 12,
		IdataSize: uint16(len(z.idata))}.Encode(p[hdr:])
	// The inline pcluster follows the pack of the last lcluster's
	// index (z_idataoff: the end of the indexes).
	copy(p[len(p)-len(z.idata):], z.idata)
	idx := z.indexes()
	at := p[int(ebase)-inline : len(p)-len(z.idata)]
	if z.full {
		for i, m := range idx {
			disk.EncodeFullIndex(at[i*disk.LclusterIndexSize:], m)
		}
		return
	}
	if err := disk.EncodeCompactIndexes(at, ebase, idx, lclusterBits, z.advise()); err != nil {
		// The extents are a block apart at least and the window
		// bounds them: every value fits its field.
		panic(fmt.Sprintf("erofs: compact indexes: %v", err))
	}
}

// pcluster is one compressed (or PLAIN) pcluster of a job.
type pcluster struct {
	llen  int
	plain bool
	data  []byte // the compressed bytes, or the PLAIN bytes
}

// zjob is one segment of a file to compress.
type zjob struct {
	in    *inode
	name  string
	off   int64 // the segment's offset in the file
	seg   *segment
	data  []byte
	last  bool
	sum   uint64 // the file's digest (fileDigest), on its last job
	done  chan struct{}
	first bool
}

// segment is a job's memory, kept from job to job (the free list):
// the input bytes, which its pclusters' bytes replace, and the
// pclusters pointing in them.
type segment struct {
	buf []byte
	res []pcluster
}

// zwriter runs the pool and the ordered writer.
type zwriter struct {
	b       *builder
	c       *compressor
	jobs    chan *zjob
	ordered chan *zjob
	free    chan *segment
	wg      sync.WaitGroup
	wdone   chan struct{}
	err     error // the writer's, read after wdone
	full    bool
	blk     []byte // the writer's: a block read back (inlineTail)
}

func newZWriter(b *builder, c *compressor, workers int) *zwriter {
	z := &zwriter{b: b, c: c, jobs: make(chan *zjob, workers), ordered: make(chan *zjob, 2*workers+2),
		free: make(chan *segment, workers+2), wdone: make(chan struct{}), full: b.p.LegacyCompress}
	for range cap(z.free) {
		z.free <- &segment{buf: make([]byte, segmentSize)}
	}
	for range workers {
		z.wg.Add(1)
		go z.worker()
	}
	go z.writer()
	return z
}

// writeFile reads the file's data into segments and queues them.
func (z *zwriter) writeFile(in *inode, r io.Reader, name string) error {
	h := z.b.fileDigest()
	in.comp = &zfile{size: int64(in.size), full: z.full, alg: z.c.alg, big: z.c.pcluster > blockSize}
	for off := int64(0); off < int64(in.size); off += segmentSize {
		n := int(min(int64(in.size)-off, segmentSize))
		var seg *segment
		select {
		case seg = <-z.free:
		case <-z.wdone:
			return z.err
		}
		if _, err := io.ReadFull(r, seg.buf[:n]); err != nil {
			z.free <- seg
			return fmt.Errorf("%s: reading its data: %w", name, noEOF(err))
		}
		h.Write(seg.buf[:n])
		j := &zjob{in: in, name: name, off: off, seg: seg, data: seg.buf[:n], done: make(chan struct{}), first: off == 0}
		if off+int64(n) == int64(in.size) {
			j.last = true
			j.sum = h.Sum64()
		}
		z.jobs <- j
		z.ordered <- j
	}
	return nil
}

func (z *zwriter) worker() {
	defer z.wg.Done()
	enc := z.c.newEncoder()
	for j := range z.jobs {
		j.seg.res = compressSegment(enc, j.data, z.c, j.last && z.b.p.Ztailpacking, j.seg.res[:0])
		close(j.done)
	}
}

// compressSegment cuts data into pclusters. With tail (ztailpacking, the
// file's last segment) the last bytes under a block are compressed too
// when they shrink, to go inline. Each pcluster's bytes (compressed, or
// PLAIN) are moved to the front of data, after the ones before: a
// pcluster is kept compressed only when it is shorter than the input it
// holds, so they never reach input not read yet, and a segment needs no
// second buffer.
func compressSegment(enc encoder, data []byte, c *compressor, tail bool, res []pcluster) []pcluster {
	enc.reset()
	w := 0 // where the next pcluster's bytes go
	keep := func(n int, b []byte, plain bool) {
		copy(data[w:], b)
		res = append(res, pcluster{llen: n, plain: plain, data: data[w : w+len(b)]})
		w += len(b)
	}
	for off := 0; off < len(data); {
		rest := data[off:]
		if tail && len(rest) <= blockSize {
			if n, comp := enc.fit(rest, blockSize); n == len(rest) && len(comp) < n && comp[0] != 0 {
				keep(n, comp, false)
				break
			}
		}
		if plainBlocks(off, len(rest), len(data)) > 1 {
			n, comp := enc.fit(rest[:min(len(rest), c.maxExtent)], c.pcluster)
			// Compressed when it saves a block at least over PLAIN
			// pclusters of the same bytes (as mkfs.erofs: a file's
			// last 4000 bytes across an lcluster boundary take two
			// PLAIN blocks, one compressed), and shrinks (its bytes
			// go where its input was).
			if blocks := (len(comp) + blockSize - 1) / blockSize; blocks < plainBlocks(off, n, len(data)) && len(comp) < n && len(comp) > 0 && comp[0] != 0 {
				keep(n, comp, false)
				off += n
				continue
			}
		}
		// Nothing saved: a PLAIN pcluster of a block's bytes.
		n := min(len(rest), blockSize)
		if end := off + n; end == len(data) && end%blockSize != 0 && off/blockSize != (end-1)/blockSize {
			// The file's last extent, across an lcluster boundary:
			// Linux takes a PLAIN extent whose last lcluster is a
			// NONHEAD to run to that lcluster's end, past the
			// pcluster ("invalid extent length"); cut it there.
			n = blockSize - off%blockSize
		}
		keep(n, rest[:n], true)
		off += n
	}
	return res
}

// plainBlocks returns the blocks that the n bytes of data at off take as
// PLAIN pclusters: a block's bytes each, and one more when the file's
// last one is cut at an lcluster boundary (compressSegment). data is a
// segment: its end is the file's when it is not block aligned.
func plainBlocks(off, n, size int) int {
	q := (n - 1) / blockSize // the PLAIN pclusters before the last
	blocks := q + 1
	if last, end := off+q*blockSize, off+n; end == size && end%blockSize != 0 && last/blockSize != (end-1)/blockSize {
		blocks++
	}
	return blocks
}

// writer writes the jobs' pclusters in order.
func (z *zwriter) writer() {
	defer close(z.wdone)
	for j := range z.ordered {
		<-j.done
		if z.err == nil {
			z.err = z.writeJob(j)
		}
		z.free <- j.seg
	}
}

// writeJob writes one job's pclusters, and ends its file on its last.
func (z *zwriter) writeJob(j *zjob) error {
	b := z.b
	zf := j.in.comp
	if j.first {
		zf.first = b.out.block()
	}
	la := j.off
	for _, pc := range j.seg.res {
		blocks := (len(pc.data) + blockSize - 1) / blockSize
		zf.ext = append(zf.ext, zext{la: la, plain: pc.plain, blocks: uint32(blocks)})
		la += int64(pc.llen)
		if pc.plain {
			b.out.write(pc.data)
			b.out.padBlock()
		} else {
			// 0padding: the compressed bytes end the pcluster.
			b.out.zeros(blocks*blockSize - len(pc.data))
			b.out.write(pc.data)
		}
	}
	if !j.last {
		return b.out.err
	}
	zf.blocks = b.out.block() - zf.first
	return z.endFile(j)
}

// endFile turns a file of PLAIN pclusters alone into an uncompressed
// one, and shares an identical file's data.
func (z *zwriter) endFile(j *zjob) error {
	b := z.b
	in := j.in
	zf := in.comp
	start := int64(zf.first) * blockSize
	allPlain := true
	for _, e := range zf.ext {
		allPlain = allPlain && e.plain
	}
	if allPlain {
		in.comp = nil
		in.blkaddr = zf.first
		in.nblocks = uint32(in.size / blockSize)
		if t := int(in.size % blockSize); t > 0 {
			in.plain = true
			if !b.p.NoInline && b.tailBytes+int64(t) <= b.p.TailMemory && b.inlineFits(in, t) {
				// The tail's block is the last written: take it back.
				tail := make([]byte, t)
				if err := b.out.readBack(tail, b.out.pos-blockSize); err != nil {
					return err
				}
				b.out.truncate(b.out.pos - blockSize)
				in.tail, in.plain = tail, false
				b.tailBytes += int64(t)
			}
		}
		if in.nblocks == 0 && !in.plain {
			in.blkaddr = 0
		}
		if b.dedupe != nil {
			return b.dedupe.share(b, in, j.sum, start)
		}
		return b.out.err
	}
	if b.p.Ztailpacking {
		if err := z.inlineTail(in); err != nil {
			return err
		}
	}
	if b.dedupe != nil {
		return b.dedupe.shareZ(b, in, j.sum, start)
	}
	return b.out.err
}

// ztailMargin is room kept for what the inode's metadata may grow by
// between now and the layout: the indexes' alignment to the xattrs' final
// size (a 4-byte index more or less, the map header's 8-byte alignment).
const ztailMargin = 32

// inlineTail moves a compressed file's last pcluster inline, after its
// indexes (-E ztailpacking), when it is a block (the last written) that
// holds less than a block of bytes and the inode, its xattrs, its map and
// those bytes fit one block: a PLAIN tail's bytes as they are, a
// compressed one's without the 0padding before them.
func (z *zwriter) inlineTail(in *inode) error {
	b := z.b
	zf := in.comp
	last := &zf.ext[len(zf.ext)-1]
	if last.blocks != 1 {
		return nil
	}
	if z.blk == nil {
		z.blk = make([]byte, blockSize)
	}
	blk := z.blk
	if err := b.out.readBack(blk, b.out.pos-blockSize); err != nil {
		return err
	}
	var data []byte
	if last.plain {
		data = blk[:zf.size-last.la]
	} else {
		data = bytes.TrimLeft(blk, "\x00")
	}
	if len(data) == 0 || len(data) >= blockSize || b.tailBytes+int64(len(data)) > b.p.TailMemory {
		return nil
	}
	zf.idata = data
	inline := in.isize + xattrInlineMax(in)
	if inline+zf.metaLen(inline)+ztailMargin > blockSize {
		zf.idata = nil
		return nil
	}
	zf.idata = bytes.Clone(data) // blk is the next file's
	b.out.truncate(b.out.pos - blockSize)
	last.blocks = 0
	zf.blocks--
	b.tailBytes += int64(len(data))
	return nil
}

// close waits for the queued jobs to be written.
func (z *zwriter) close() error {
	close(z.jobs)
	close(z.ordered)
	z.wg.Wait()
	<-z.wdone
	if z.err != nil {
		return z.err
	}
	return z.b.out.err
}

// super sets the superblock's compression fields.
func (z *zwriter) super(sb *disk.SuperBlock) {
	sb.FeatureIncompat |= disk.FeatureIncompatZeroPadding
	if z.b.p.Ztailpacking {
		sb.FeatureIncompat |= disk.FeatureIncompatZtailpacking
	}
	z.c.super(sb)
}
