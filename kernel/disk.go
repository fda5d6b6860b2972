package kernel

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/block"
	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/kernel/vfs"
	"github.com/lklimg/lklimg/kernel/virtioblk"
)

// blockLayer is the real block layer: virtio-blk disks on image files,
// behind a block.Manager and the page cache. mu guards disks and arena
// (nil once closed, so the memory can be freed).
type blockLayer struct {
	cache *block.Cache
	mgr   *block.Manager

	mu    sync.Mutex
	arena *mm.Arena
	disks []*virtioblk.Disk
}

func (b *blockLayer) addDisk(path string, opts DiskOptions) (string, error) {
	b.mu.Lock()
	arena := b.arena
	b.mu.Unlock()
	if arena == nil {
		return "", abi.Errorf(abi.ENXIO, "block layer closed")
	}
	d, err := virtioblk.Open(path, virtioblk.OpenOptions{Format: opts.Format, ReadOnly: opts.ReadOnly, CacheUnsafe: opts.CacheUnsafe,
		Create: opts.Create, Truncate: opts.Truncate, Size: opts.Size}, arena)
	if err != nil {
		return "", hostErr(err)
	}
	dev, err := b.mgr.AddDisk(d)
	if err != nil {
		d.Close()
		return "", err
	}
	b.mu.Lock()
	b.disks = append(b.disks, d)
	b.mu.Unlock()
	return dev.Name(), nil
}

// hostErr keeps an errno already in err, and gives the host's error
// otherwise as EIO with its text.
func hostErr(err error) error {
	var e abi.Errno
	if errors.As(err, &e) {
		return err
	}
	return abi.Errorf(abi.EIO, "%v", err)
}

func (b *blockLayer) resizeDisk(name string, n int64) error {
	return b.mgr.ResizeDisk(name, n)
}

func (b *blockLayer) rereadPartitions(d *block.Device, holder any) ([]string, []string, error) {
	return b.mgr.RereadPartitions(d, holder)
}

func (b *blockLayer) device(name string) (vfs.BlockDevice, error) {
	d, err := b.mgr.Device(name)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (b *blockLayer) partitions(disk string) ([]string, error) {
	if _, err := b.mgr.Device(disk); err != nil {
		return nil, err
	}
	var names []string
	for _, p := range b.mgr.Partitions(disk) {
		names = append(names, p.Name())
	}
	return names, nil
}

func (b *blockLayer) tableLabel(disk string) (string, error) {
	t, err := b.mgr.Table(disk)
	if err != nil || t == nil {
		return "", err
	}
	return t.Label, nil
}

// PartitionTable returns the type of disk's partition table ("vda" or
// "/dev/vda") as sfdisk names it, "dos" (MBR) or "gpt", and its partitions
// as Partitions returns them; "" and none for a disk without a table. It
// lets a tool say what a disk is when no filesystem is found on it.
// Errors: ENXIO or ENOENT for an unknown disk.
func (k *Kernel) PartitionTable(disk string) (label string, parts []string, err error) {
	disk = strings.TrimPrefix(disk, "/dev/")
	parts, err = k.devs.partitions(disk)
	if err != nil {
		return "", nil, err
	}
	label, err = k.devs.tableLabel(disk)
	if err != nil {
		return "", nil, err
	}
	return label, parts, nil
}

func (b *blockLayer) close() error {
	var errs []error
	if err := b.mgr.Close(); err != nil {
		errs = append(errs, err)
	}
	b.mu.Lock()
	disks := b.disks
	b.disks, b.arena = nil, nil
	b.mu.Unlock()
	for _, d := range disks {
		if err := d.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.ID(), err))
		}
	}
	if err := b.cache.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
