package ext4

// loadGroupDescs reads and checks every group descriptor at mount, as
// ext4_check_descriptors does; they stay in memory until unmount. A bad
// descriptor checksum is logged and the group used all the same, as a
// read-only mount does: __ext4_get_inode_loc reads the group's inodes,
// and a wrong inode table fails the inodes' own checks (their checksums,
// with metadata_csum).
func (f *fsys) loadGroupDescs() error {
	return f.LoadGroupDescs(int64(f.dev.Size()), f.readBlock, func(g uint64, want, got uint16) {
		f.log.Printf("EXT4-fs (%s): ext4_check_descriptors: Checksum for group %d failed (%d!=%d)",
			f.dev.Name(), g, want, got)
	})
}
