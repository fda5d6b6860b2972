package virtio

// Memory is guest memory as the device sees it: addresses are the ones the
// driver writes into descriptors and queue registers.
type Memory interface {
	// Bytes returns the n bytes at addr, aliasing guest memory, or nil if
	// any of them lies outside it.
	Bytes(addr uint64, n int) []byte
}

// SliceMemory is a Memory over one byte slice, address 0 being its first
// byte. Tests and simple drivers use it.
type SliceMemory []byte

// Bytes implements Memory.
func (m SliceMemory) Bytes(addr uint64, n int) []byte {
	if n < 0 || addr > uint64(len(m)) || uint64(n) > uint64(len(m))-addr {
		return nil
	}
	return m[addr : addr+uint64(n) : addr+uint64(n)]
}
