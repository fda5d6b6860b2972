// Package vfs is the library kernel's virtual filesystem: the mount table,
// the dentry cache and path walk, open file descriptions and the fd table,
// over filesystem drivers that implement the interfaces in fs.go.
//
// # Concepts
//
// The types play the parts of Linux's:
//
//   - VFS is the namespace (struct mnt_namespace) together with the dentry
//     cache and the registry of filesystem types (file_systems).
//   - Mount is struct mount / struct vfsmount: a mounted Superblock, its root
//     Dentry, and where it is attached (the mountpoint Dentry of the parent
//     Mount).
//   - Dentry is struct dentry: a name in a directory bound to an Inode. A
//     Dentry belongs to exactly one Mount (there are no bind mounts), so a
//     *Dentry is also a struct path.
//   - nameidata (namei.go) is the state of one path walk.
//   - File is struct file: an open file description with its offset.
//   - FDTable is struct files_struct: the descriptors of the one process the
//     library kernel runs.
//
// The root of the namespace is a ramfs (ramfs.go) holding "/", "/dev" and
// "/mnt", so that there is always somewhere to mount and to put the device
// nodes of the disks.
//
// # Locking
//
// VFS.mu is the one lock of the namespace and the dentry cache (Linux spreads
// this over mount_lock, rename_lock, d_lock and the LRU locks). It guards the
// mount table, every Dentry's children, refs, mounted and LRU links, and every
// Mount's refs. It is held only for short, non-blocking steps: no driver method
// is ever called with VFS.mu held, so a slow disk read in one walk never
// stalls another.
//
// Dentry.lookupMu serialises the driver lookups in one directory (as i_rwsem
// does for d_alloc_parallel), so that two walks missing the same name do not
// create two dentries for it. It is taken before VFS.mu, never after.
//
// File.mu guards a File's offset and directory position; it is taken before
// VFS.mu and may be held across driver calls (reads), as f_pos_lock is.
// FDTable.mu guards the descriptor slots only.
//
// Lock order: File.mu -> Dentry.lookupMu -> VFS.mu -> FDTable.mu.
//
// # References and the dentry LRU
//
// A Dentry is pinned while it has references (Get/Put: path walks in
// progress, open files, a mount on it), children, or a mount on it. A
// Dentry with none of these is unused: it stays in the cache on an LRU list,
// and when there are more than Options.MaxUnusedDentries unused dentries the
// least recently used are freed (which may make their parents unused in
// turn). A directory is not unused while it has cached children, so the
// cache holds at most MaxUnusedDentries unused dentries plus their
// ancestors and whatever is pinned: memory grows with the number of open
// files and the depth of the tree, not with the size of the image.
//
// Every reference to a Dentry also counts on its Mount; umount refuses with
// EBUSY while any remains other than the caller's own, which is how files
// open under a mountpoint, walks in progress and submounts keep it busy.
package vfs
