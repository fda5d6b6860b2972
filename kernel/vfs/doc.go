// Package vfs is the library kernel's virtual filesystem: the mount table,
// the dentry cache and path walk, open file descriptions and the fd table,
// over filesystem drivers that implement the interfaces in fs.go.
package vfs
