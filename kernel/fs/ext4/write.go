package ext4

import (
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// A read-write mount: which images are written, and what mounting and
// unmounting read-write do to the superblock. The changes themselves go
// through transactions (txn.go).

// Features the writer keeps valid. An image with another feature mounts
// read-only, naming it, as ext4_fill_super refuses a read-write mount for
// an unknown ro_compat feature.
const (
	compatWritable = compatDirPrealloc | compatImagicInodes | compatHasJournal | compatExtAttr |
		compatResizeInode | compatDirIndex | compatLazyBG | compatSparseSuper2 | compatStableInodes
	roCompatWritable = roCompatSparseSuper | roCompatLargeFile | roCompatHugeFile | roCompatGdtCsum |
		roCompatDirNlink | roCompatExtraIsize | roCompatMetadataCsum
	incompatWritable = incompatFiletype | incompatRecover | incompatMetaBG | incompatExtents |
		incompat64bit | incompatFlexBG | incompatCsumSeed | incompatLargedir
)

// mountWritable makes f a read-write mount when it can be one, and logs
// why not otherwise (the mount then stays read-only: ReadOnly).
func (f *fsys) mountWritable() {
	name := f.dev.Name()
	out, ok := f.dev.(vfs.BlockWriter)
	if !ok || f.dev.ReadOnly() {
		f.log.Printf("EXT4-fs (%s): write access unavailable, mounting read-only", name)
		return
	}
	if why := f.notWritable(); why != "" {
		f.log.Printf("EXT4-fs (%s): %s: mounting read-only", name, why)
		return
	}
	f.raw, f.out = f.dev, out
	f.dev = txnDevice{f: f, BlockDevice: f.dev}
	f.max = maxTxnBlocksCap
	f.rw = true
}

// notWritable says why f cannot be written, or "".
func (f *fsys) notWritable() string {
	sb := f.sb
	var u []string
	for _, n := range compatNames {
		if sb.sFeatureCompat&n.bit&^compatWritable != 0 {
			u = append(u, n.name)
		}
	}
	for _, n := range roCompatNames {
		if sb.sFeatureRoCompat&n.bit&^roCompatWritable != 0 {
			u = append(u, n.name)
		}
	}
	for _, n := range incompatNames {
		if sb.sFeatureIncompat&n.bit&^incompatWritable != 0 {
			u = append(u, n.name)
		}
	}
	switch {
	case len(u) > 0:
		return "write support for feature(s) " + strings.Join(u, ",") + " not available"
	case f.noload:
		return "noload"
	case sb.hasIncompat(incompatRecover):
		return "journal recovery on a read-write mount not available yet"
	case sb.sState&0x2 != 0:
		return "filesystem has errors"
	}
	return ""
}

// ReadOnly reports whether the mount refuses writes (vfs.ReadOnlyer).
func (f *fsys) ReadOnly() bool { return !f.rw }

func (f *fsys) statfsFlags() int64 {
	if f.rw {
		return 0x20 // ST_VALID
	}
	return abi.MS_RDONLY | 0x20 // ST_RDONLY | ST_VALID
}

// Sync commits the running transaction (vfs.Syncer).
func (f *fsys) Sync() error {
	if !f.rw {
		return nil
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.commitLocked()
}

// unmountWritable commits and leaves the filesystem clean.
func (f *fsys) unmountWritable() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if err := f.commitLocked(); err != nil {
		return err
	}
	f.rw = false
	return nil
}
