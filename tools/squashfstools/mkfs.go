package squashfstools

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"runtime"
	"time"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/format/squashfs"
)

// Device is where the image is written: the block device (or file) it
// is made on, read back to compare duplicates.
type Device interface {
	io.ReaderAt
	io.WriterAt
}

// Params is what mksquashfs takes from its command line. The zero value
// of each field is mksquashfs's default.
type Params struct {
	// BlockSize is -b, a power of two from 4 KiB to 1 MiB; 0: 128 KiB.
	BlockSize uint32
	// Compressor is -comp (squashfs.CompZlib ...); 0: gzip.
	Compressor uint16
	// CompressorOptions are the -X options.
	CompressorOptions squashfs.CompressorOptions
	// NoInodeCompression (-noI), NoDataCompression (-noD),
	// NoFragmentCompression (-noF) and NoXattrCompression (-noX) store
	// those blocks as they are.
	NoInodeCompression, NoDataCompression     bool
	NoFragmentCompression, NoXattrCompression bool
	// NoFragments (-no-fragments) stores no fragments: tails are short
	// blocks. AlwaysFragments (-always-use-fragments) puts the tails of
	// files larger than a block in fragments too.
	NoFragments, AlwaysFragments bool
	// NoXattrs (-no-xattrs) stores no xattrs.
	NoXattrs bool
	// NoDuplicates (-no-duplicates) does not look for files of the same
	// contents.
	NoDuplicates bool
	// NoExports (-no-exports) leaves the export table out.
	NoExports bool
	// AllRoot (-all-root) makes every entry root's.
	AllRoot bool
	// Time is the filesystem's time (the superblock's mkfs_time), and
	// entries' mtimes are clamped to it, when set (SOURCE_DATE_EPOCH);
	// implied directories have it for mtime. Nil: the clock's time, and
	// mtimes as they are.
	Time *int64
	// Workers compress blocks in parallel; 0: GOMAXPROCS. The image is
	// the same whatever their number.
	Workers int
	// Report is told of each entry the image cannot hold as the source
	// gave it (a name escaping the root, a hard link to a name not
	// seen, xattrs of a prefix SquashFS has not); nil: ignored. The
	// image is made without them.
	Report func(error)
}

// maxPendingFragments is how many sealed fragment blocks may wait for
// their compression before the oldest is written: a constant, so that
// where fragment blocks land in the data does not depend on the number
// of workers (it bounds how many fragment blocks compress at once).
const maxPendingFragments = 16

// DefaultBlockSize is mksquashfs's block size.
const DefaultBlockSize = 128 << 10

// EntryError is a problem with one entry of the source.
type EntryError struct {
	Name string
	Err  error
}

func (e *EntryError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *EntryError) Unwrap() error { return e.Err }

// Mkfs writes a SquashFS 4.0 image of src's tree to dev from offset 0,
// as mksquashfs would of the same tree, and returns its size (padded to
// 4 KiB, as mksquashfs pads). src's errors, a device error or a tree
// SquashFS cannot hold (more than 2^32 inodes, 65536 ids) end it.
func Mkfs(dev Device, src archive.Source, p Params) (int64, error) {
	if p.BlockSize == 0 {
		p.BlockSize = DefaultBlockSize
	}
	if p.BlockSize < squashfs.MinBlockSize || p.BlockSize > squashfs.MaxBlockSize || p.BlockSize&(p.BlockSize-1) != 0 {
		return 0, fmt.Errorf("block size %d: should be a power of two from 4K to 1M", p.BlockSize)
	}
	if p.Compressor == 0 {
		p.Compressor = squashfs.CompZlib
	}
	if p.NoFragments && p.AlwaysFragments {
		return 0, errors.New("-no-fragments and -always-use-fragments cannot go together")
	}
	if p.Workers <= 0 {
		p.Workers = runtime.GOMAXPROCS(0)
	}
	newComp := func() (squashfs.Compressor, error) {
		return squashfs.NewCompressor(p.Compressor, p.CompressorOptions, p.BlockSize)
	}
	comp, err := newComp()
	if err != nil {
		return 0, err
	}
	decomp, err := squashfs.NewDecompressor(p.Compressor, p.CompressorOptions.Encode(p.Compressor, p.BlockSize), p.BlockSize)
	if err != nil {
		return 0, err
	}
	opts := p.CompressorOptions.Encode(p.Compressor, p.BlockSize)
	start := uint64(squashfs.SuperblockSize)
	if opts != nil {
		start += squashfs.MetadataHeaderSize + uint64(len(opts))
	}

	pl, err := newPool(p.Workers, newComp)
	if err != nil {
		return 0, err
	}
	inflight := 2*p.Workers + 4
	free := make(chan *job, inflight)
	for range inflight {
		free <- &job{data: make([]byte, 0, p.BlockSize)}
	}
	items := make(chan item, inflight)
	dw := &dataWriter{
		dev: dev, pos: start, blockSize: p.BlockSize, pool: pl, noFrag: p.NoFragmentCompression,
		dedupe: !p.NoDuplicates, buf: make([]byte, 0, 1<<20), dups: map[[2]uint64][]*fileData{},
		frag: make([]byte, 0, p.BlockSize), maxPending: maxPendingFragments, decomp: decomp, cached: -1,
	}
	done := make(chan struct{})
	go func() {
		dw.run(items, free)
		close(done)
	}()
	rd := &dataReader{
		blockSize: p.BlockSize, fragments: !p.NoFragments, alwaysFrags: p.AlwaysFragments,
		noData: p.NoDataCompression, pool: pl, items: items, free: free,
		seed: maphash.MakeSeed(), zero: make([]byte, p.BlockSize),
	}
	t, err := readTree(src, rd, &p, dw.failed.Load)
	close(items)
	<-done
	pl.close()
	if err == nil {
		err = dw.err
	}
	if err != nil {
		return 0, err
	}
	dw.flush()
	if dw.err != nil {
		return 0, dw.err
	}

	// The metadata, after the data (mksquashfs's order): inode table,
	// directory table, fragment table, export table, id table, xattrs.
	t.root.sortChildren()
	count := numberInodes(t.root)
	tb := &tables{
		inodes: newMetaWriter(comp, p.NoInodeCompression),
		dirs:   newMetaWriter(comp, p.NoInodeCompression),
		ids:    &idTable{index: map[uint32]uint16{}},
		lookup: make([]squashfs.Ref, count), allRoot: p.AllRoot,
	}
	if !p.NoXattrs {
		tb.xattrs = &xattrTable{kv: newMetaWriter(comp, p.NoXattrCompression), sets: map[string]uint32{}, values: map[string]squashfs.Ref{}}
	}
	rootRef, err := tb.writeDir(t.root, count+1)
	if err == nil {
		err = tb.ids.err
	}
	if err != nil {
		return 0, err
	}
	pos := dw.pos
	sb := &squashfs.Superblock{
		Magic: squashfs.Magic, Inodes: count, BlockSize: p.BlockSize, Fragments: uint32(len(dw.frags)),
		Compression: p.Compressor, BlockLog: uint16(log2(p.BlockSize)), NoIDs: uint16(len(tb.ids.ids)),
		Major: 4, Minor: 0, RootInode: uint64(rootRef),
		XattrIDTableStart: squashfs.InvalidBlk, LookupTableStart: squashfs.InvalidBlk,
	}
	put := func(b []byte) uint64 {
		at := pos
		if err == nil && len(b) > 0 {
			_, err = dev.WriteAt(b, int64(pos))
		}
		pos += uint64(len(b))
		return at
	}
	inodes, ierr := tb.inodes.finish()
	dirs, derr := tb.dirs.finish()
	if err = errors.Join(ierr, derr); err != nil {
		return 0, err
	}
	sb.InodeTableStart = put(inodes)
	sb.DirectoryTableStart = put(dirs)
	// A table of entries: its blocks, then its index, where the
	// superblock points.
	putTable := func(entries []byte, raw bool) uint64 {
		blocks, index, terr := table(entries, comp, raw, pos)
		if terr != nil && err == nil {
			err = terr
		}
		put(blocks)
		return put(index)
	}
	var b []byte
	for _, f := range dw.frags {
		b = f.Append(b)
	}
	sb.FragmentTableStart = putTable(b, p.NoFragmentCompression)
	if !p.NoExports {
		b = b[:0]
		for _, r := range tb.lookup {
			b = le64(b, uint64(r))
		}
		sb.LookupTableStart = putTable(b, p.NoInodeCompression)
	}
	b = b[:0]
	for _, id := range tb.ids.ids {
		b = le32(b, id)
	}
	sb.IDTableStart = putTable(b, p.NoInodeCompression)
	if x := tb.xattrs; x != nil && len(x.ids) > 0 {
		kv, kerr := x.kv.finish()
		if kerr != nil {
			return 0, kerr
		}
		kvStart := put(kv)
		b = b[:0]
		for _, id := range x.ids {
			b = id.Append(b)
		}
		blocks, index, terr := table(b, comp, p.NoXattrCompression, pos)
		if terr != nil {
			return 0, terr
		}
		put(blocks)
		sb.XattrIDTableStart = put(squashfs.XattrIDTable{XattrTableStart: kvStart, XattrIDs: uint32(len(x.ids))}.Append(nil))
		put(index)
	}
	sb.BytesUsed = pos
	// Padded to 4 KiB with zeros (mksquashfs's -nopad not taken).
	const pad = 4096
	put(make([]byte, (pad-pos%pad)%pad))

	sb.Flags = flags(&p, opts != nil)
	now := time.Now().Unix()
	if p.Time != nil {
		now = *p.Time
	}
	sb.MkfsTime = clampTime(now)
	head := make([]byte, start)
	sb.Encode(head)
	if opts != nil {
		copy(head[squashfs.SuperblockSize:], le16(nil, squashfs.MetadataHeader(len(opts), false)))
		copy(head[squashfs.SuperblockSize+squashfs.MetadataHeaderSize:], opts)
	}
	if err == nil {
		_, err = dev.WriteAt(head, 0)
	}
	if err != nil {
		return 0, err
	}
	return int64(pos), nil
}

// flags returns the superblock's flags for p (squashfs-tools'
// SQUASHFS_MKFLAGS).
func flags(p *Params, compOpts bool) uint16 {
	var f uint16
	set := func(on bool, bit uint16) {
		if on {
			f |= bit
		}
	}
	set(p.NoInodeCompression, squashfs.FlagNoI)
	set(p.NoDataCompression, squashfs.FlagNoD)
	set(p.NoFragmentCompression, squashfs.FlagNoF)
	set(p.NoFragments, squashfs.FlagNoFrag)
	set(p.AlwaysFragments, squashfs.FlagAlwaysFrag)
	set(!p.NoDuplicates, squashfs.FlagDuplicate)
	set(!p.NoExports, squashfs.FlagExport)
	set(p.NoXattrCompression, squashfs.FlagNoX)
	set(p.NoXattrs, squashfs.FlagNoXattr)
	set(compOpts, squashfs.FlagCompOpt)
	return f
}

func log2(v uint32) int {
	n := 0
	for v > 1 {
		v >>= 1
		n++
	}
	return n
}

func le32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// clampTime returns a time as SquashFS's 32-bit unsigned seconds hold
// it: before 1970 is 0, after 2106 the last second.
func clampTime(sec int64) uint32 {
	return uint32(max(0, min(sec, math.MaxUint32)))
}
