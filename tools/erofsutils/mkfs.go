package erofsutils

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/cespare/xxhash/v2"

	"github.com/lklimg/lklimg/archive"
	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Params is what mkfs.erofs takes from its command line. Start from
// DefaultParams: some zero values are not mkfs.erofs's defaults.
type Params struct {
	// BuildTime is the superblock's build time, the time of every
	// compact inode; ClampMtime clamps later entries' times to it
	// (SOURCE_DATE_EPOCH, mkfs.erofs -T with --all-time's sense).
	BuildTime  archive.Time
	ClampMtime bool
	// FixedMtime gives every entry the build time (mkfs.erofs -T).
	FixedMtime bool
	// AllRoot makes every entry root's (--all-root).
	AllRoot bool
	// UUID and Label are the superblock's (-U, -L: 16 bytes at most).
	// DeriveUUID, with UUID zero, derives it from every byte written
	// before the superblock (a version 4 UUID of their SHA-256): the
	// same input and parameters, the same UUID.
	UUID       [16]byte
	DeriveUUID bool
	Label      string
	// XattrTolerance is -x: an xattr (name and value) more inodes than
	// this carry goes to the shared area; below 0 no xattrs are kept.
	XattrTolerance int
	// ForceExtended is -E force-inode-extended; NoInline is -E
	// noinline_data (tails in blocks of their own).
	ForceExtended, NoInline bool
	// Compressor is -z: "" (none), "lz4", "lz4hc", "deflate", "zstd",
	// "lzma"; Level its level, or -1 for the algorithm's default.
	Compressor string
	Level      int
	// PclusterSize is -C, the largest physical cluster in bytes (a
	// multiple of the block size); 0 is one block.
	PclusterSize int
	// Ztailpacking is -E ztailpacking: a compressed file's last
	// pcluster, when under a block, inline after its indexes.
	Ztailpacking bool
	// LegacyCompress is -E legacy-compress: full lcluster indexes
	// (COMPRESSED_FULL) rather than compact ones.
	LegacyCompress bool
	// NoDedupe writes identical files' data as many times.
	NoDedupe bool
	// Workers compress in parallel; 0 is GOMAXPROCS. The image is the
	// same whatever their number.
	Workers int
	// TailMemory bounds the bytes of tails kept for inline packing
	// until the metadata is written; past it tails go in blocks.
	TailMemory int64
	// Report is told of each entry left out or changed (a name escaping
	// the root, an xattr erofs cannot name, a hard link to nothing);
	// nil: not told.
	Report func(error)
}

// DefaultXattrTolerance is mkfs.erofs's -x default.
const DefaultXattrTolerance = 2

// DefaultParams returns mkfs.erofs's defaults: no compression,
// inline tails, xattrs shared past DefaultXattrTolerance inodes.
func DefaultParams() Params {
	return Params{XattrTolerance: DefaultXattrTolerance, Level: -1, TailMemory: 64 << 20}
}

func (p *Params) report(err error) {
	if p.Report != nil {
		p.Report(err)
	}
}

// blockSize is the only block size written: a page on x86, as mkfs.erofs
// chooses by default.
const (
	blkszBits = 12
	blockSize = 1 << blkszBits
)

// Mkfs writes the image of src onto dev and returns its size in bytes
// (a whole number of blocks): the caller cuts the device to it. dev is
// read back (io.ReaderAt) when it is one, to confirm duplicates before
// their data is shared; without it no data is shared. Entries that
// cannot be kept are told to p.Report and left out; errors of the
// input or the device end it.
func Mkfs(dev io.WriterAt, src archive.Source, p Params) (int64, error) {
	if p.Workers <= 0 {
		p.Workers = runtime.GOMAXPROCS(0)
	}
	if p.PclusterSize == 0 {
		p.PclusterSize = blockSize
	}
	if p.PclusterSize%blockSize != 0 || p.PclusterSize > 1<<20 {
		return 0, fmt.Errorf("erofs: pcluster size %d: a multiple of %d up to 1 MiB", p.PclusterSize, blockSize)
	}
	if len(p.Label) > 16 {
		return 0, fmt.Errorf("erofs: volume label %q: 16 bytes at most", p.Label)
	}
	b := &builder{p: &p, t: newTree(&p), out: newOutput(dev, blockSize)}
	if p.DeriveUUID && p.UUID == [16]byte{} {
		b.out.digest = sha256.New()
	}
	if p.Compressor != "" {
		c, err := newCompressor(p.Compressor, p.Level, p.PclusterSize)
		if err != nil {
			return 0, err
		}
		b.z = newZWriter(b, c, p.Workers)
	}
	if r, ok := dev.(io.ReaderAt); ok && !p.NoDedupe {
		b.dedupe = newDedupe(r)
	}
	if err := b.readSource(src); err != nil {
		if b.z != nil {
			b.z.close()
		}
		return 0, err
	}
	return b.finish()
}

// builder is one Mkfs run.
type builder struct {
	p         *Params
	t         *tree
	out       *output
	dedupe    *dedupe
	z         *zwriter
	tailBytes int64
	buf       []byte
	digest    *xxhash.Digest // fileDigest's
}

// readSource builds the tree from src, writing files' data as it comes.
func (b *builder) readSource(src archive.Source) error {
	for {
		h, err := src.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := b.add(h, src); err != nil {
			var e *abi.Error
			if !errors.As(err, &e) {
				return err
			}
			b.p.report(fmt.Errorf("%s: %w", h.Name, err))
		}
	}
}

// add puts one entry in the tree. abi errors are the entry's own
// (reported); others end the run.
func (b *builder) add(h *archive.Header, r io.Reader) error {
	parts, ok := splitPath(h.Name)
	if !ok {
		return abi.Errorf(abi.EPERM, "the name leaves the root: left out")
	}
	t := b.t
	if len(parts) == 0 {
		// "." or "./": the root's own attributes.
		if h.Typeflag != archive.TypeDir {
			return abi.Errorf(abi.EISDIR, "the root is a directory: entry left out")
		}
		t.attrs(t.root, h)
		return nil
	}
	for _, c := range parts {
		if len(c) > 255 {
			return abi.Errorf(abi.ENAMETOOLONG, "name of %d bytes: left out", len(c))
		}
	}
	dir, err := t.lookupParent(parts)
	if err != nil {
		return err
	}
	name := parts[len(parts)-1]
	old := dir.children[name]
	if h.Typeflag == archive.TypeLink {
		lp, ok := splitPath(h.Linkname)
		target := t.lookup(lp)
		if !ok || target == nil || target.isDir() || len(lp) == 0 {
			return abi.Errorf(abi.ENOENT, "hard link to %s: no such file: left out", h.Linkname)
		}
		if target == old {
			return nil
		}
		unlink(dir, name)
		dir.children[name] = target
		target.nlink++
		return nil
	}
	if h.Typeflag == archive.TypeDir && old != nil && old.isDir() {
		// tar -x keeps a directory extracted again, taking its
		// attributes.
		t.attrs(old, h)
		return nil
	}
	in := &inode{nlink: 1}
	switch h.Typeflag {
	case archive.TypeReg:
		in.mode = abi.S_IFREG
	case archive.TypeDir:
		in.mode, in.nlink = abi.S_IFDIR, 2
		in.children, in.parent = map[string]*inode{}, dir
	case archive.TypeSymlink:
		in.mode, in.target, in.size = abi.S_IFLNK, h.Linkname, uint64(len(h.Linkname))
		if len(h.Linkname) == 0 || len(h.Linkname) > 4095 {
			return abi.Errorf(abi.ENAMETOOLONG, "symlink target of %d bytes: left out", len(h.Linkname))
		}
	case archive.TypeChar, archive.TypeBlock:
		in.mode = abi.S_IFCHR
		if h.Typeflag == archive.TypeBlock {
			in.mode = abi.S_IFBLK
		}
		in.rdev = disk.EncodeDev(h.Devmajor, h.Devminor)
	case archive.TypeFifo:
		in.mode = abi.S_IFIFO
	default:
		return abi.Errorf(abi.EOPNOTSUPP, "entry of type %q: left out", h.Typeflag)
	}
	t.attrs(in, h)
	if old != nil && old.isDir() && len(old.children) > 0 {
		return abi.Errorf(abi.ENOTEMPTY, "replaces a directory that is not empty: left out")
	}
	if h.Typeflag == archive.TypeReg {
		in.size = uint64(h.Size)
		var data io.Reader = io.LimitReader(r, h.Size)
		if h.Sparse != nil {
			data = newSparseReader(r, h.Sparse, h.Size)
		}
		if err := b.writeFile(in, data, h.Name); err != nil {
			return err
		}
	}
	unlink(dir, name)
	dir.children[name] = in
	if in.isDir() {
		dir.nlink++
	}
	return nil
}
