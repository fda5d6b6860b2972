package kernel

import (
	"slices"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/fs/btrfs"
	"github.com/lklimg/lklimg/kernel/fs/erofs"
	"github.com/lklimg/lklimg/kernel/fs/ext4"
	"github.com/lklimg/lklimg/kernel/fs/isofs"
	"github.com/lklimg/lklimg/kernel/fs/squashfs"
	"github.com/lklimg/lklimg/kernel/fs/vfat"
	"github.com/lklimg/lklimg/kernel/fs/xfs"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// fsType is a filesystem type to register, with the other names it
// answers to.
type fsType struct {
	t       vfs.FilesystemType
	aliases []string
}

// filesystems is the kernel's filesystem types, in the order a mount
// without a type probes them (the order of register_filesystem calls at
// Linux's boot, which /proc/filesystems lists). A new driver is its
// folder under kernel/fs and one line here. It is built afresh for each
// caller: no driver state is shared between kernels.
func filesystems() []fsType {
	return []fsType{
		// ext4 serves ext2 and ext3 too, as CONFIG_EXT4_USE_FOR_EXT2.
		{t: ext4.NewType(), aliases: []string{"ext2", "ext3"}},
		// vfat, as Linux registers it after ext4 ("fat" names it too),
		// then msdos: the same driver with 8.3 names only. A probe finds
		// vfat first, as blkid names a FAT volume vfat.
		{t: vfat.NewType(), aliases: []string{"fat"}},
		{t: vfat.NewMsdosType()},
		// squashfs, read-only: a read-write mount is served read-only.
		{t: squashfs.NewType()},
		// erofs, read-only: found by its magic at byte 1024.
		{t: erofs.NewType()},
		// iso9660, after fat as Linux registers it (mount -t takes
		// only "iso9660"; isofs is its source directory's name).
		{t: isofs.NewType()},
		// btrfs, read-only: found by its magic at 64 KiB + 0x40.
		{t: btrfs.NewType()},
		// xfs, served read-only: found by its magic "XFSB" at byte 0.
		{t: xfs.NewType()},
	}
}

// FilesystemName is a filesystem type of the kernel as a person picks
// it: its name (mount(2)'s fstype, /proc/filesystems) and its aliases.
type FilesystemName struct {
	Name    string
	Aliases []string
}

// FilesystemNames returns the filesystem types a kernel has, in probe
// order, without booting one: for a command's help and its checks of a
// -t TYPE before it has a kernel.
func FilesystemNames() []FilesystemName {
	var names []FilesystemName
	for _, ft := range filesystems() {
		names = append(names, FilesystemName{Name: ft.t.Name(), Aliases: slices.Clone(ft.aliases)})
	}
	return names
}

// FilesystemTypesHelp lists every name FilesystemNames accepts, for a
// -t flag's usage: "ext4, ext2, ext3, vfat, fat, msdos, squashfs, erofs, iso9660, btrfs, xfs".
func FilesystemTypesHelp() string {
	var all []string
	for _, n := range FilesystemNames() {
		all = append(all, n.Name)
		all = append(all, n.Aliases...)
	}
	return strings.Join(all, ", ")
}

// Filesystems returns the names of the registered filesystem types, in
// registration order (aliases such as ext2 and ext3 are not listed).
func (k *Kernel) Filesystems() []string {
	var names []string
	for _, t := range k.vfs.FilesystemTypes() {
		names = append(names, t.Name())
	}
	return names
}

// FilesystemType returns the name of the registered type that name (a
// type's name or one of its aliases: "ext3") picks: "ext4". Errors:
// ENODEV ("unknown filesystem type", as mount(2) says it), its reason
// listing the types the kernel has.
func (k *Kernel) FilesystemType(name string) (string, error) {
	t, err := k.vfs.FilesystemType(name)
	if err != nil {
		return "", abi.Errorf(abi.ENODEV, "unknown filesystem type %q (this kernel reads %s)",
			name, strings.Join(k.Filesystems(), ", "))
	}
	return t.Name(), nil
}
