package archive

import (
	"io"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Importing: a tar stream turned into files in a mounted filesystem, as
// GNU tar --extract --xattrs --numeric-owner --same-permissions would do
// as root, through the kernel's syscalls only (tar2fs).

// Import reads the (uncompressed) tar stream r and creates its entries
// under root in the kernel sys, in one pass. Later entries replace
// earlier ones of the same name, as extraction does.
func Import(sys ImportSyscalls, root string, r io.Reader, opts ImportOptions) error {
	return abi.Errorf(abi.ENOSYS, "archive: import: not implemented")
}

// ImportSyscalls is the part of the kernel's syscall API Import uses.
// *kernel.Kernel implements it.
type ImportSyscalls interface {
	Syscalls
}

// ImportOptions changes what Import does.
type ImportOptions struct {
	// Whiteouts is how OCI whiteouts (".wh." names) are taken: "" keeps
	// them as the files they are, "overlay" makes overlayfs whiteouts
	// (0/0 character devices, and trusted.overlay.opaque="y" on a
	// directory for ".wh..wh..opq").
	Whiteouts string
}
