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
// nodes of the disks. The ramfs is a complete writable filesystem, and the
// test double that proves the VFS's write side without a disk.
//
// # Changes
//
// The namespace changes (namespace.go: mkdir, mknod, symlink, link,
// unlink, rmdir, rename, and O_CREAT in file.go) check what Linux's
// fs/namei.c checks, in its order, then call the driver (DirWriter) and
// keep the dentry cache in step: a new name gets a dentry from the inode
// the driver handed out; a removed or replaced name's dentry is dropped
// (dead), and lives on while open files use it; a renamed dentry moves to
// its new parent and name with its subtree. The cache holds no negative
// dentries, so a missing name is always asked of the driver. Attribute
// changes (attr.go) follow fs/attr.c's notify_change: the change time is
// stamped with every change, from Options.Now. The calls that make an
// inode (Openat, Mkdirat, Mknodat, Symlinkat, and Renameat2 for a
// whiteout) take the calling task's Cred as a parameter, as gVisor's VFS
// takes its credentials, since the library kernel's syscalls come from
// many goroutines each acting for another user: the new inode is owned
// by its Uid/Gid (or a set-group-ID directory's group) and its Umask
// applies, unless a default ACL replaces it. The rest act as root. When the VFS
// drops an inode the driver handed out, it calls Evict (see Evicter in
// fs.go).
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
// Dentry.lookupMu is also the directory's lock for changes (i_rwsem):
// create, unlink and rename hold it across the driver call, so that a
// lookup never sees a half-made change. VFS.renameMu (s_vfs_rename_mutex)
// is taken by every rename before the lookupMu of its one or two
// directories; as only renames hold two lookupMus, they cannot deadlock.
// A Dentry's name and parent change only under VFS.mu, by rename.
//
// VFS.inodeMu, striped by inode number, is a regular file's i_rwsem: a
// write (with its O_APPEND positioning), a truncation or a fallocate
// holds it across the driver call.
//
// File.mu guards a File's offset and directory position; it is taken before
// VFS.mu and may be held across driver calls (reads), as f_pos_lock is.
// FDTable.mu guards the descriptor slots and their bitmaps only.
//
// Drivers' Evict calls are queued while VFS.mu is held and made after it
// is released (VFS.unlock); they may be made with a lookupMu or File.mu
// held, never VFS.mu.
//
// Lock order: File.mu -> renameMu -> Dentry.lookupMu -> inodeMu -> VFS.mu
// -> FDTable.mu.
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
// open under a mountpoint (unlinked ones included), walks in progress and
// submounts keep it busy.
//
// A dead dentry (evicted, unlinked, replaced by a rename, or of an
// unmounted filesystem) is out of its parent's children and never found
// again; its inode is evicted when its last reference goes.
package vfs
