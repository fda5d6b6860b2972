// Package tools is the table of the filesystems' userspace tools: for
// each suite (e2fsprogs for ext2, ext3 and ext4; dosfstools for vfat;
// fdisk, the partitioner of the disk, with no filesystem; later
// squashfs-tools, ...), the filesystem types its mkfs makes and the
// programs it has, as a Linux distribution packages them. Each suite is a
// package under tools/ (tools/e2fsprogs) that runs as a program on the
// library kernel, on a block device it opens through the syscalls. A
// command that takes -t TYPE (lklimg mkfs, tar2fs) looks the type up
// here, so that a new suite is its folder and one line in Suites, and a
// type without a mkfs is refused by name, listing those that have one.
//
// The kernel's own table (which types it mounts) is kernel.FilesystemNames:
// a type may be read long before anything makes it, and the reverse.
package tools

import (
	"fmt"
	"slices"
	"strings"
)

// Suite is one filesystem's userspace tools.
type Suite struct {
	// Name is the suite, as Linux's package of it is named, and its
	// folder under tools/: "e2fsprogs".
	Name string
	// Types are the filesystem types its mkfs makes, by the name -t
	// takes, the default first: mke2fs's ext4, ext3, ext2.
	Types []string
	// Mkfs, Resize and Tune are its programs, as Linux names them
	// ("mke2fs", "resize2fs", "tune2fs"); "" where it has none yet.
	Mkfs, Resize, Tune string
	// Partition is its partitioner, for a suite of the disk rather than
	// of a filesystem ("sfdisk", which `lklimg part` stands for).
	Partition string
}

// Suites returns the table, built afresh for each caller (nothing in it
// is shared state). A new suite is one line here.
func Suites() []Suite {
	return []Suite{
		// Mkfs, Minimize (resize2fs -M), AddJournal and AddOrphanFile
		// (tune2fs -j, -O orphan_file).
		{Name: "e2fsprogs", Types: []string{"ext4", "ext3", "ext2"}, Mkfs: "mke2fs", Resize: "resize2fs", Tune: "tune2fs"},
		// Mkfs (mkfs.fat, which Linux distributions also install as
		// mkfs.vfat and mkfs.msdos: Linux's two types of a FAT volume).
		{Name: "dosfstools", Types: []string{"vfat", "msdos"}, Mkfs: "mkfs.fat"},
		// Mkfs (mksquashfs, from a tar or a directory): tools/squashfstools.
		{Name: "squashfs-tools", Types: []string{"squashfs"}, Mkfs: "mksquashfs"},
		// Mkfs (mkfs.erofs) from an archive.Source.
		{Name: "erofs-utils", Types: []string{"erofs"}, Mkfs: "mkfs.erofs"},
		// Plan and Write (sfdisk with a script): tools/fdisk.
		{Name: "fdisk", Partition: "sfdisk"},
	}
}

// MkfsTypes returns every type some suite's mkfs makes, in table order:
// "ext4", "ext3", "ext2", "vfat", "msdos", "squashfs", "erofs".
func MkfsTypes() []string {
	var types []string
	for _, s := range Suites() {
		if s.Mkfs != "" {
			types = append(types, s.Types...)
		}
	}
	return types
}

// ForMkfs returns the suite whose mkfs makes fstype. Its error says there
// is none yet, listing the types there is one for: "no mkfs for xfs yet
// (mkfs makes ext4, ext3, ext2, vfat, msdos, squashfs, erofs)".
func ForMkfs(fstype string) (Suite, error) {
	for _, s := range Suites() {
		if s.Mkfs != "" && slices.Contains(s.Types, fstype) {
			return s, nil
		}
	}
	return Suite{}, fmt.Errorf("no mkfs for %s yet (mkfs makes %s)", fstype, strings.Join(MkfsTypes(), ", "))
}
