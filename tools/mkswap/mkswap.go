// Package mkswap is util-linux's mkswap: a Linux swap area's header
// (include/linux/swap.h's union swap_header, version 1) written on a
// device, as mkswap 2.38 writes it for a page size of 4096.
package mkswap

import (
	"encoding/binary"
	"fmt"
	"io"
)

// PageSize is the swap area's page: x86-64's (mkswap takes the host's
// getpagesize(); a swap area is usable on hosts of its page size).
const PageSize = 4096

// Params are mkswap's -U, -L and the device's size in bytes.
type Params struct {
	Size  int64
	UUID  [16]byte // in reading order
	Label string   // cut to 15 bytes, as mkswap cuts it (a NUL ends it)
}

// Mkswap writes the first page: zeros (the boot block mkswap clears on a
// new device), then at 1024 the version (1), the last page, no bad pages,
// the UUID and the label, and "SWAPSPACE2" at the page's end.
func Mkswap(dev io.WriterAt, p Params) error {
	pages := p.Size / PageSize
	if pages < 10 {
		return fmt.Errorf("mkswap: swap space needs to be at least %d KiB", 10*PageSize/1024)
	}
	page := make([]byte, PageSize)
	h := page[1024:]
	binary.LittleEndian.PutUint32(h[0:], 1)
	binary.LittleEndian.PutUint32(h[4:], uint32(min(pages-1, 1<<32-1)))
	binary.LittleEndian.PutUint32(h[8:], 0)
	copy(h[12:28], p.UUID[:])
	copy(h[28:43], p.Label)
	copy(page[PageSize-10:], "SWAPSPACE2")
	_, err := dev.WriteAt(page, 0)
	return err
}
