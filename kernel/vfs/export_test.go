package vfs

// RamfsCounts returns what the ramfs mounted at m counts: inodes not
// freed, handouts not evicted, Sync calls, and Evict calls without a
// handout.
func RamfsCounts(m *Mount) (live, handouts, syncs, badEvicts int) {
	sb := m.sb.(*ramfsSuper)
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.live, sb.handouts, sb.syncs, sb.badEvicts
}
