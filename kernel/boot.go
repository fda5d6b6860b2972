package kernel

import (
	"errors"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/block"
	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// cacheShare is the part of the arena the page cache may take; the rest
// holds the virtqueues and their request headers.
const cacheShare = 0.75

// Boot starts a kernel: it allocates the arena of cfg.Memory bytes, the
// page cache in it, the block layer, registers the filesystem types (the
// table in filesystems.go) and mounts the ramfs at "/" with /dev and
// /mnt.
//
// Errors: EINVAL for a Memory too small or too large for an arena.
func Boot(cfg Config) (*Kernel, error) {
	if cfg.Memory == 0 {
		cfg.Memory = DefaultMemory
	}
	log := newPrintk(cfg.Printk)
	arena, err := mm.NewArena(cfg.Memory)
	if err != nil {
		return nil, abi.Errorf(abi.EINVAL, "%v", err)
	}
	log.Printf("Memory: %dK available", arena.Size()>>10)
	cache := block.NewCache(arena, int(float64(arena.Pages())*cacheShare))
	bl := &blockLayer{arena: arena, cache: cache, mgr: block.NewManager(cache, log.Printf)}
	k, err := boot(cfg, log, bl, filesystems())
	if err != nil {
		bl.close()
		return nil, err
	}
	k.arena = arena
	return k, nil
}

// boot builds a kernel over a block layer and filesystem types (the real
// ones for Boot, fakes in tests).
func boot(cfg Config, log *printk, devs devices, types []fsType) (*Kernel, error) {
	k := &Kernel{system: &system{
		cfg:      cfg,
		log:      log,
		devs:     devs,
		fds:      vfs.NewFDTable(cfg.MaxFiles),
		devNames: make(map[uint64]string),
	}, uid: cfg.Uid, gid: cfg.Gid}
	k.umask.Store(0o022)
	v, err := vfs.New(vfs.Options{Log: log, Now: cfg.Now, Cred: k.cred(), OpenDevice: k.openDevice})
	if err != nil {
		return nil, err
	}
	k.vfs = v
	for _, ft := range types {
		if err := v.RegisterFilesystem(ft.t, ft.aliases...); err != nil {
			return nil, err
		}
	}
	log.Printf("VFS: registered filesystems: %s", strings.Join(k.Filesystems(), " "))
	return k, nil
}

// Halt unmounts every filesystem, stops the devices and releases the
// kernel's memory, after closing every file descriptor still open. The
// Kernel is not used afterwards; a second Halt does nothing. It returns
// the first error met, after doing all it can.
func (k *Kernel) Halt() error {
	k.mountMu.Lock()
	defer k.mountMu.Unlock()
	if k.halted {
		return nil
	}
	k.halted = true
	for _, f := range k.fds.RemoveAll() {
		f.DecRef()
	}
	k.cwdMu.Lock()
	if k.cwd != nil {
		k.vfs.Put(k.cwd)
		k.cwd = nil
	}
	k.cwdMu.Unlock()
	err := k.vfs.UmountAll()
	if k.devs != nil {
		err = errors.Join(err, k.devs.close())
	}
	if k.arena != nil {
		k.arena.Release()
	}
	k.arena = nil
	k.log.Printf("reboot: System halted")
	if err != nil {
		return abi.Errorf(abi.ErrnoOf(err), "halt: %v", err)
	}
	return nil
}
