package ext4

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// The inode flags and project ID as FS_IOC_GETFLAGS/SETFLAGS and
// FS_IOC_FSGETXATTR/FSSETXATTR see them (fs/ext4/ioctl.c
// ext4_fileattr_get, ext4_fileattr_set, ext4_ioctl_setflags,
// ext4_ioctl_setproject).

// Flags a user sees and may change (EXT4_FL_USER_VISIBLE,
// EXT4_FL_USER_MODIFIABLE), and those a file type may have
// (EXT4_REG_FLMASK, EXT4_OTHER_FLMASK; a directory may have all).
const (
	userVisibleFl    = 0x725BDFFF
	userModifiableFl = 0x624BC0FF
	inodeJournalData = 0x00004000
	inodeDirsyncTop  = 0x00030000 // EXT4_DIRSYNC_FL | EXT4_TOPDIR_FL
	inodeEofblocksFl = 0x00400000
	regFlMask        = ^uint32(inodeDirsyncTop | disk.InodeCasefoldFl | disk.InodeProjinheritFl)
	otherFlMask      = disk.InodeNodumpFl | inodeNoatimeFl
)

// maskFlags keeps the flags ip's type may have (ext4_mask_flags).
func (ip *inode) maskFlags(flags uint32) uint32 {
	switch {
	case ip.isDir():
		return flags
	case ip.isReg():
		return flags & regFlMask
	}
	return flags & otherFlMask
}

// GetFileattr returns ip's visible flags (a regular file never shows
// PROJINHERIT_FL) and, with the project feature, its project ID
// (ext4_fileattr_get; vfs.Fileattrer).
func (ip *inode) GetFileattr() (vfs.Fileattr, error) {
	defer ip.f.rlock()()
	flags := ip.flags & userVisibleFl
	if ip.isReg() {
		flags &^= disk.InodeProjinheritFl
	}
	fa := vfs.FileattrFromFlags(flags)
	if ip.f.Super.HasRoCompat(disk.RoCompatProject) {
		fa.Projid = ip.projid
	}
	return fa, nil
}

// SetFileattr sets ip's modifiable flags and its project ID
// (ext4_fileattr_set; vfs.Fileattrer), in one handle: the flags first,
// then the project, whose change moves the inode's usage between project
// quotas (putInode). Both stamp the ctime.
//
// Errors: EOPNOTSUPP for a flag not visible, one ip's type may not have,
// a change this driver does not make (data journaling, EOFBLOCKS,
// extents for a file that maps blocks: see migrate), casefolding without
// the casefold feature or on an encrypted directory, a project ID other
// than 0 without the project feature or on 128-byte inodes; ENOTEMPTY
// for casefolding a directory that is not empty; EPERM for an immutable
// inode whose other flags or project would change, or a quota file;
// EOVERFLOW when i_extra_isize does not cover i_projid (Linux would grow
// it); EROFS.
func (ip *inode) SetFileattr(ctx vfs.Ctx, fa vfs.Fileattr) error {
	f := ip.f
	flags := fa.Flags
	if flags&^userVisibleFl != 0 {
		return abi.EOPNOTSUPP
	}
	// chattr(1) passes back what GETFLAGS showed: the visible flags
	// that cannot be set are dropped silently.
	flags &= userModifiableFl
	if ip.maskFlags(flags) != flags {
		return abi.EOPNOTSUPP
	}
	h, err := f.beginCtx(ctx)
	if err != nil {
		return err
	}
	err = h.setFileattr(ip, ctx, flags, fa.Projid)
	if serr := h.stop(); err == nil {
		err = serr
	}
	return err
}

func (h *handle) setFileattr(ip *inode, ctx vfs.Ctx, flags, projid uint32) error {
	f := h.f
	project := f.Super.HasRoCompat(disk.RoCompatProject)
	// ext4_ioctl_check_immutable: an immutable inode that stays so
	// keeps its other flags (compared with all of i_flags, as Linux
	// does) and its project.
	if ip.flags&disk.InodeImmutableFl != 0 && flags&disk.InodeImmutableFl != 0 &&
		(ip.flags&^disk.InodeImmutableFl != flags&^disk.InodeImmutableFl || project && ip.projid != projid) {
		return abi.EPERM
	}
	if f.isQuotaFile(ip.ino) {
		return abi.EPERM
	}
	changed := (ip.flags ^ flags) & userModifiableFl
	if changed&inodeJournalData != 0 || flags&inodeEofblocksFl != 0 && ip.flags&inodeEofblocksFl == 0 {
		return abi.EOPNOTSUPP
	}
	if changed&disk.InodeCasefoldFl != 0 {
		// ext4_ioctl_setflags: chattr +F or -F, on an empty directory
		// (maskFlags kept the flag to directories) of a filesystem with
		// the feature. Not on an encrypted one, whose casefolded names
		// keep their hash in the entry, which this driver does not
		// write.
		if !f.Super.HasIncompat(disk.IncompatCasefold) || ip.isEncrypted() {
			return abi.EOPNOTSUPP
		}
		empty, err := ip.isEmptyDir()
		if err != nil {
			return err
		}
		if !empty {
			return abi.ENOTEMPTY
		}
	}
	keep := uint32(disk.InodeExtentsFl | inodeJournalData)
	ip.flags = ip.flags&^(userModifiableFl&^keep) | flags&^keep
	ip.ctime = ctx.Now
	if err := h.writeInode(ip); err != nil {
		return err
	}
	if changed&disk.InodeExtentsFl != 0 {
		if err := h.migrate(ip, flags&disk.InodeExtentsFl != 0); err != nil {
			return err
		}
	}
	// ext4_ioctl_setproject.
	switch {
	case !project && projid != 0:
		return abi.EOPNOTSUPP
	case !project:
		return nil
	case f.InodeSize <= disk.GoodOldInodeSize:
		return abi.EOPNOTSUPP
	case projid == ip.projid:
		return nil
	}
	raw, err := h.inodeSlot(ip.ino)
	if err != nil {
		return err
	}
	if disk.GoodOldInodeSize+f.ExtraIsize(raw) < disk.OffIProjid+4 {
		return abi.EOVERFLOW
	}
	ip.projid = projid
	ip.ctime = ctx.Now
	return h.writeInode(ip)
}

// migrate turns ip's block map into an extent tree (toExtents) or back,
// as ext4_ext_migrate and ext4_ind_migrate do when EXTENTS_FL changes;
// this driver converts only files that map no block (EOPNOTSUPP
// otherwise). EINVAL without the extents feature; a fast symlink stays
// as it is.
func (h *handle) migrate(ip *inode, toExtents bool) error {
	if !h.f.Super.HasIncompat(disk.IncompatExtents) {
		return abi.EINVAL
	}
	if !ip.hasBlockMap() {
		return nil
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return h.fail(err)
	}
	if len(runs) != 0 {
		return abi.EOPNOTSUPP
	}
	if toExtents {
		ip.flags |= disk.InodeExtentsFl
		ip.initExtentRoot()
	} else {
		ip.flags &^= disk.InodeExtentsFl
		clear(ip.iBlock[:])
	}
	ip.invalidateMap()
	return h.writeInode(ip)
}

// isQuotaFile reports whether ino is one of the mounted quota files
// (ext4_is_quota_file).
func (f *fsys) isQuotaFile(ino uint32) bool {
	if f.quota == nil {
		return false
	}
	for _, qf := range f.quota.files {
		if qf != nil && qf.ip.ino == ino {
			return true
		}
	}
	return false
}
