package virtioblk

import (
	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/virtio"
)

// arenaMemory shows the arena to the device as its guest memory: arena
// addresses are the "bus addresses" in descriptors.
type arenaMemory struct{ a *mm.Arena }

func (m arenaMemory) Bytes(addr uint64, n int) []byte { return m.a.Bytes(mm.Addr(addr), n) }

var _ virtio.Memory = arenaMemory{}
