// Package squashfs is the SquashFS 4.0 filesystem driver, as Linux's
// fs/squashfs: it mounts the images of format/squashfs (made by
// mksquashfs or squashfs-tools-ng, compressed with gzip, xz, lzma, lzo,
// lz4 or zstd) and serves them read-only: lookups, directory listings in
// the image's order, file data (blocks, fragments, sparse blocks),
// symlinks, devices, hard links and xattrs.
//
// SquashFS is read-only: a read-write mount is served read-only, as
// squashfs_fill_super sets SB_RDONLY. An inode is read from the inode
// table each time a lookup finds it (its number is the inode's
// inode_number, as Linux's i_ino); what is read often is kept decompressed
// in small caches (cache.go). There are no holes for SEEK_DATA and
// SEEK_HOLE: a sparse block reads as zeros, and Linux's squashfs uses
// generic_file_llseek, which sees a file as all data.
//
// Locking: fsys.mu guards the caches, the metadata decompressor and its
// scratch buffer, the blocks being made and the index of files looked
// up, held for each block copied out (released while a data block is
// read and decompressed: readahead.go's blockMaker); an
// inode's block-list cursor has the inode's own lock (file.go), the last
// lookup's place fsys.lookMu (dir.go), taken before the others.
// Everything else is read-only after the mount.
package squashfs

import (
	"strings"
	"sync"
	"sync/atomic"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// devBlockSize is the block size Linux gives a squashfs superblock
// (SQUASHFS_DEVBLK_SIZE): st_blksize.
const devBlockSize = 1024

// fsType is the registered "squashfs" type (squashfs_fs_type).
type fsType struct{}

// NewType returns the squashfs filesystem type.
func NewType() vfs.FilesystemType { return fsType{} }

func (fsType) Name() string { return "squashfs" }

// Probe accepts a superblock that decodes, as blkid's squashfs probe
// checks the magic and the version.
func (fsType) Probe(dev vfs.BlockDevice) bool {
	p := make([]byte, sq.SuperblockSize)
	if n, _ := dev.ReadAt(p, 0); n < len(p) {
		return false
	}
	_, err := sq.DecodeSuperblock(p)
	return err == nil
}

// fsys is a mounted image (struct squashfs_sb_info).
type fsys struct {
	dev  vfs.BlockDevice
	log  vfs.Logger
	name string
	sb   *sq.Superblock

	ids        []uint32 // the id table, read at the mount
	fragIndex  []uint64 // the fragment table's index: its blocks' positions
	xattrs     sq.XattrIDTable
	xattrIndex []uint64 // the xattr id table's index
	root       *inode

	compOpts []byte // the compressor options, for the readahead workers

	ra     chan raJob     // blocks for the readahead workers (readahead.go)
	raDone sync.WaitGroup // the workers
	// blocksMade counts the data and fragment blocks decompressed, by
	// readers and workers: each once for a file read in order.
	blocksMade atomic.Int64

	lookMu sync.Mutex // guards look
	look   lookState  // the last lookup's place (dir.go)

	mu       sync.Mutex         // guards what follows
	inflight map[int64]*raBlock // blocks being made or asked of the workers
	makers   []*blockMaker      // for readers making a block (readahead.go)
	upcoming upcomingFiles      // files looked up, for readahead past a file's end
	dec      sq.Decompressor
	scratch  []byte // compressed bytes as read, before decompression
	meta     *cache
	frags    *cache
	data     *cache
}

// Mount reads the superblock, the compressor options and the id,
// fragment and xattr id tables' indexes, and the root inode, as
// squashfs_fill_super does. Errors: EINVAL for what is not SquashFS 4.0,
// an unknown compressor, a bad option or an image larger than the device;
// EIO for damage.
func (fsType) Mount(dev vfs.BlockDevice, flags uint64, data string, log vfs.Logger) (vfs.Superblock, error) {
	name := dev.Name()
	f := &fsys{dev: dev, log: log, name: name}
	fail := func(err error) (vfs.Superblock, error) {
		f.logError(err)
		return nil, err
	}
	if err := parseOptions(data); err != nil {
		// As the fs_context parser logs it: "squashfs: Unknown ...".
		if log != nil {
			log.Printf("%s", err.(*abi.Error).Detail)
		}
		return nil, err
	}
	p := make([]byte, sq.SuperblockSize)
	if _, err := dev.ReadAt(p, 0); err != nil {
		return fail(abi.Errorf(abi.EIO, "squashfs: unable to read squashfs_super_block on %s: %v", name, err))
	}
	s, err := sq.DecodeSuperblock(p)
	if err != nil {
		return fail(err)
	}
	if s.BytesUsed > uint64(dev.Size()) {
		hint := ""
		if s.BytesUsed-uint64(dev.Size()) < 512 {
			// A disk is whole sectors (a loop device too): an image
			// made with -nopad loses its last partial one.
			hint = ": its end is in a partial sector (mksquashfs -nopad?), pad the file to 4 KiB"
		}
		return fail(abi.Errorf(abi.EINVAL, "squashfs: image of %d bytes larger than the device %s (%d bytes)%s", s.BytesUsed, name, dev.Size(), hint))
	}
	f.sb = s
	f.scratch = make([]byte, max(s.BlockSize, sq.MetadataSize))
	f.meta = newCache("metadata", metaCacheBlocks, sq.MetadataSize)
	f.frags = newCache("fragment", fragCacheBlocks, int(s.BlockSize))
	f.data = newCache("data", dataCacheBlocks, int(s.BlockSize))
	if err := f.setup(); err != nil {
		return fail(err)
	}
	if err := f.startReadahead(); err != nil {
		return fail(err)
	}
	return f, nil
}

// setup reads what the mount needs after the superblock.
func (f *fsys) setup() error {
	s := f.sb
	var opts []byte
	if s.Flags&sq.FlagCompOpt != 0 {
		// The options are one metadata block after the superblock,
		// stored uncompressed: the decompressor needs them first.
		h, err := f.readRaw(sq.SuperblockSize, sq.MetadataHeaderSize)
		if err != nil {
			return err
		}
		size, compressed, err := sq.DecodeMetadataHeader(h)
		if err != nil {
			return where(err, "compressor options")
		}
		if compressed {
			return abi.Errorf(abi.EIO, "squashfs: compressor options stored compressed")
		}
		b, err := f.readRaw(sq.SuperblockSize+sq.MetadataHeaderSize, size)
		if err != nil {
			return err
		}
		opts = append([]byte(nil), b...)
	}
	dec, err := sq.NewDecompressor(s.Compression, opts, s.BlockSize)
	if err != nil {
		return err
	}
	f.dec, f.compOpts = dec, opts
	// The tables from the end back, each ending before the next
	// (squashfs_fill_super's next_table).
	next := s.BytesUsed
	if s.HasXattrs() {
		if err := f.readXattrTable(&next); err != nil {
			return err
		}
	}
	// The id table.
	n := sq.TableBlocks(uint64(s.NoIDs), sq.IDEntrySize)
	idx, err := f.readIndex(s.IDTableStart, n, next, "id table")
	if err != nil {
		return err
	}
	next = s.IDTableStart
	f.ids = make([]uint32, s.NoIDs)
	for i := range f.ids {
		slot, off := sq.TableRef(uint64(i), sq.IDEntrySize)
		var b [4]byte
		if _, err := f.reader(0, sq.MakeRef(idx[slot], uint16(off))).Read(b[:]); err != nil {
			return err
		}
		f.ids[i] = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	}
	if s.LookupTableStart != sq.InvalidBlk && s.Flags&sq.FlagExport != 0 {
		if s.LookupTableStart >= next || s.LookupTableStart <= s.DirectoryTableStart {
			return abi.Errorf(abi.EIO, "squashfs: export table at %d out of place", s.LookupTableStart)
		}
		next = s.LookupTableStart
	}
	if s.HasFragments() {
		n := sq.TableBlocks(uint64(s.Fragments), sq.FragmentEntrySize)
		if f.fragIndex, err = f.readIndex(s.FragmentTableStart, n, next, "fragment table"); err != nil {
			return err
		}
		next = s.FragmentTableStart
	}
	if s.DirectoryTableStart >= next {
		return abi.Errorf(abi.EIO, "squashfs: directory table at %d after the tables (%d)", s.DirectoryTableStart, next)
	}
	root, err := f.readInode(sq.Ref(s.RootInode))
	if err != nil {
		return err
	}
	if root.sq.BasicType() != sq.TypeDir {
		return abi.Errorf(abi.EIO, "squashfs: root inode is not a directory (type %d)", root.sq.Type)
	}
	f.root = root
	return nil
}

// logError puts err in the kernel's log as Linux's squashfs ERROR does
// ("SQUASHFS error: ..."), naming the device.
func (f *fsys) logError(err error) {
	if f.log != nil {
		f.log.Printf("SQUASHFS error: %s: %v", f.name, err)
	}
}

// readIndex reads a table's index of n block positions at start, which
// must end at or before next.
func (f *fsys) readIndex(start, n, next uint64, what string) ([]uint64, error) {
	if start > next || n*8 > next-start {
		return nil, abi.Errorf(abi.EIO, "squashfs: %s index of %d blocks at %d does not fit before %d", what, n, start, next)
	}
	p := make([]byte, n*8)
	if _, err := f.dev.ReadAt(p, int64(start)); err != nil {
		return nil, abi.Errorf(abi.EIO, "squashfs: reading the %s index: %v", what, err)
	}
	return sq.DecodeTableIndex(p, n, f.sb.DirectoryTableStart, start, what)
}

// readXattrTable reads the xattr id table's header and index
// (squashfs_read_xattr_id_table) and moves next below them.
func (f *fsys) readXattrTable(next *uint64) error {
	s := f.sb
	start := s.XattrIDTableStart
	if start >= *next || *next-start < sq.XattrIDTableSize || start <= s.DirectoryTableStart {
		return abi.Errorf(abi.EIO, "squashfs: xattr id table at %d out of place", start)
	}
	p := make([]byte, sq.XattrIDTableSize)
	if _, err := f.dev.ReadAt(p, int64(start)); err != nil {
		return abi.Errorf(abi.EIO, "squashfs: reading the xattr id table: %v", err)
	}
	t, err := sq.DecodeXattrIDTable(p)
	if err != nil {
		return err
	}
	if t.XattrTableStart >= start || t.XattrTableStart <= s.DirectoryTableStart {
		return abi.Errorf(abi.EIO, "squashfs: xattr table at %d out of place", t.XattrTableStart)
	}
	n := sq.TableBlocks(uint64(t.XattrIDs), sq.XattrIDEntrySize)
	idx, err := f.readIndex(start+sq.XattrIDTableSize, n, *next, "xattr id table")
	if err != nil {
		return err
	}
	f.xattrs, f.xattrIndex = t, idx
	*next = t.XattrTableStart
	return nil
}

// parseOptions checks the mount data as squashfs_parse_param does:
// errors= (continue or panic, which change nothing here) is the one
// parameter; threads= exists only in kernels built with
// CONFIG_SQUASHFS_CHOICE_DECOMP_BY_MOUNT, which Debian's and this
// project's reference kernel are not, so it is refused like any unknown
// parameter. Errors: EINVAL with the kernel's message.
func parseOptions(data string) error {
	for _, o := range strings.Split(data, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch {
		case o == "":
		case k == "errors":
			if v != "continue" && v != "panic" {
				return abi.Errorf(abi.EINVAL, "squashfs: Bad value for 'errors'")
			}
		default:
			return abi.Errorf(abi.EINVAL, "squashfs: Unknown parameter '%s'", k)
		}
	}
	return nil
}

// Root returns the root directory.
func (f *fsys) Root() (vfs.Inode, error) { return f.root.vfsInode(), nil }

// Statfs reports the image as squashfs_statfs does: its blocks in use
// (bytes_used in block_size units), nothing free, its inode count.
func (f *fsys) Statfs() (abi.Statfs, error) {
	s := f.sb
	return abi.Statfs{
		Type:    sq.Magic,
		Bsize:   int64(s.BlockSize),
		Blocks:  (s.BytesUsed-1)>>s.BlockLog + 1,
		Files:   uint64(s.Inodes),
		Namelen: sq.NameLen,
		Frsize:  int64(s.BlockSize),
	}, nil
}

// Unmount has nothing to write: it ends the readahead workers.
func (f *fsys) Unmount() error {
	f.stopReadahead()
	return nil
}

// ReadOnly is always true: squashfs_fill_super sets SB_RDONLY, so a
// read-write mount is served read-only.
func (f *fsys) ReadOnly() bool { return true }
