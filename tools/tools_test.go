package tools

import (
	"slices"
	"testing"

	"github.com/lklimg/lklimg/kernel"
)

// TestForMkfs: each type of the table picks its suite, one the kernel
// mounts (by name or alias); a type without a mkfs is refused listing
// those with one.
func TestForMkfs(t *testing.T) {
	var mounted []string
	for _, n := range kernel.FilesystemNames() {
		mounted = append(append(mounted, n.Name), n.Aliases...)
	}
	if got := MkfsTypes(); !slices.Equal(got, []string{"ext4", "ext3", "ext2", "vfat", "msdos", "squashfs", "erofs"}) {
		t.Errorf("MkfsTypes: %v", got)
	}
	suite := map[string]string{"ext4": "mke2fs", "ext3": "mke2fs", "ext2": "mke2fs", "vfat": "mkfs.fat", "msdos": "mkfs.fat", "squashfs": "mksquashfs", "erofs": "mkfs.erofs"}
	for _, typ := range MkfsTypes() {
		s, err := ForMkfs(typ)
		if err != nil || s.Mkfs != suite[typ] {
			t.Errorf("ForMkfs(%s): %+v %v", typ, s, err)
		}
		if !slices.Contains(mounted, typ) {
			t.Errorf("%s: made, but the kernel does not mount it (%v)", typ, mounted)
		}
	}
	for _, typ := range []string{"xfs", "", "EXT4", "fat"} {
		_, err := ForMkfs(typ)
		if want := "no mkfs for " + typ + " yet (mkfs makes ext4, ext3, ext2, vfat, msdos, squashfs, erofs)"; err == nil || err.Error() != want {
			t.Errorf("ForMkfs(%q): %v, want %q", typ, err, want)
		}
	}
}
