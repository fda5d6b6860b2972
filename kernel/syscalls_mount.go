package kernel

import (
	"errors"
	"sort"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// extMajor is BLOCK_EXT_MAJOR: device numbers of partitions beyond the 15
// a disk's minors hold, as Linux numbers them (259:n).
const extMajor = 259

// AddDisk attaches the image file at path as the next virtio disk and
// returns its device name ("vda"); its partitions appear as "vda1", ...,
// and block device nodes /dev/vda, /dev/vda1, ... are made for them.
//
// The image's format is opts.Format, or the one its magic numbers show
// (raw when none does).
//
// Errors: what opening the image returns (ENOENT, EACCES, EISDIR, as
// errnos with the host's reason); EMEDIUMTYPE for an image format without
// a backend (VDI), or one its backend cannot read or write, its reason naming
// the format and how to convert it to raw; EINVAL for an unknown
// opts.Format; EIO after Halt.
func (k *Kernel) AddDisk(path string, opts DiskOptions) (string, error) {
	k.mountMu.Lock()
	defer k.mountMu.Unlock()
	if k.halted {
		return "", abi.Errorf(abi.EIO, "kernel halted")
	}
	name, err := k.devs.addDisk(path, opts)
	if err != nil {
		return "", err
	}
	parts, err := k.devs.partitions(name)
	if err != nil {
		return "", err
	}
	if err := k.addDevNodes(append([]string{name}, parts...)); err != nil {
		return "", err
	}
	return name, nil
}

// addDevNodes gives each device its number and /dev node. k.mountMu is
// held.
func (k *Kernel) addDevNodes(names []string) error {
	for _, n := range names {
		rdev, ok := devNumber(n)
		if !ok {
			rdev = abi.Makedev(extMajor, k.nextExt)
			k.nextExt++
		}
		if err := k.devNode("/dev/"+n, rdev); err != nil {
			return err
		}
		k.devMu.Lock()
		k.devNames[rdev] = n
		k.devMu.Unlock()
	}
	return nil
}

// removeDevNodes forgets the devices' numbers and removes their /dev
// nodes, as udev does when a partition goes. k.mountMu is held.
func (k *Kernel) removeDevNodes(names []string) error {
	for _, n := range names {
		k.devMu.Lock()
		for rdev, m := range k.devNames {
			if m == n {
				delete(k.devNames, rdev)
			}
		}
		k.devMu.Unlock()
		if err := k.vfs.Unlinkat(nil, "/dev/"+n, 0); err != nil && !errors.Is(err, abi.ENOENT) {
			return err
		}
	}
	return nil
}

// ResizeDisk makes the disk ("vda" or "/dev/vda") n bytes long: its
// image file is cut or extended (sparse) to n bytes, and the disk's size
// (BLKGETSIZE64 of /dev/vda: n rounded down to whole sectors) follows, as
// when the host resizes a VM's virtio disk. It is how a tool that made an
// image cuts it to the filesystem's size; the partitions found when the
// disk was added stay, cut at the new end.
//
// Errors: ENOENT for an unknown disk; EINVAL for a partition, or an n not
// positive; EOPNOTSUPP for an image that cannot change size (a host block
// device, a disk added read-only); EBUSY while the disk or a partition of
// it is open or mounted; EIO.
func (k *Kernel) ResizeDisk(disk string, n int64) error {
	k.mountMu.Lock()
	defer k.mountMu.Unlock()
	if k.halted {
		return abi.Errorf(abi.EIO, "kernel halted")
	}
	return k.devs.resizeDisk(strings.TrimPrefix(disk, "/dev/"), n)
}

// Partitions returns the names of the partitions found on disk ("vda" or
// "/dev/vda") as "vda1", ..., in table order; none for a disk without a
// partition table. Errors: ENXIO for an unknown disk.
func (k *Kernel) Partitions(disk string) ([]string, error) {
	return k.devs.partitions(strings.TrimPrefix(disk, "/dev/"))
}

// Probe returns the filesystem type found on the block device dev ("vda1"
// or "/dev/vda1"), from its superblock magic, or ENODEV ("unknown
// filesystem type"). Errors: ENXIO for an unknown device.
func (k *Kernel) Probe(dev string) (string, error) {
	bd, err := k.devs.device(strings.TrimPrefix(dev, "/dev/"))
	if err != nil {
		return "", err
	}
	t, err := k.vfs.Probe(bd)
	if err != nil {
		return "", err
	}
	return t.Name(), nil
}

// sourceDevice resolves mount(2)'s source to a block device: a path to a
// block device node ("/dev/vda1"), or, as a convenience, a bare device
// name ("vda1") that is not a path that exists.
func (k *Kernel) sourceDevice(source string) (vfs.BlockDevice, error) {
	d, err := k.walkAt(abi.AT_FDCWD, source, 0)
	if err != nil {
		if errors.Is(err, abi.ENOENT) && source != "" && !strings.Contains(source, "/") {
			if bd, err2 := k.devs.device(source); err2 == nil {
				return bd, nil
			}
		}
		return nil, err
	}
	defer k.vfs.Put(d)
	if d.Mode() != abi.S_IFBLK {
		return nil, abi.Errorf(abi.ENOTBLK, "%s is not a block device", source)
	}
	attr, err := k.vfs.Getattr(d)
	if err != nil {
		return nil, err
	}
	name, ok := k.devNames[attr.Rdev]
	if !ok {
		return nil, abi.Errorf(abi.ENXIO, "%s: no such device", source)
	}
	return k.devs.device(name)
}

// Mount is mount(2): it mounts the filesystem on block device source
// ("/dev/vda1"; a bare "vda1" is accepted too) of type fstype on the
// directory target. fstype "" tries every registered type's Probe in
// registration order; "ext2" and "ext3" are served by the ext4 driver. A
// read-only device is mounted read-only whatever flags say, as Linux does
// for a write-protected disk.
//
// Errors: ENOENT if source or target does not exist; ENOTBLK if source is
// not a block device; ENXIO if its device is gone; ENODEV for an unknown
// fstype or when no type recognises the device; ENOTDIR if target is not a
// directory; EBUSY if the device is already mounted or is held by an
// O_EXCL open, or its disk or one of its partitions is (a mount holds
// its device until Umount, as Linux claims it); what the driver returns
// (EINVAL, EUCLEAN, EIO); EIO after Halt.
func (k *Kernel) Mount(source, target, fstype string, flags uint64, data string) error {
	k.mountMu.Lock()
	defer k.mountMu.Unlock()
	if k.halted {
		return abi.Errorf(abi.EIO, "kernel halted")
	}
	_, err := k.mountLocked(source, target, fstype, flags, data)
	return err
}

func (k *Kernel) mountLocked(source, target, fstype string, flags uint64, data string) (*vfs.Mount, error) {
	dev, err := k.sourceDevice(source)
	if err != nil {
		return nil, err
	}
	var t vfs.FilesystemType
	if fstype == "" {
		t, err = k.vfs.Probe(dev)
	} else {
		t, err = k.vfs.FilesystemType(fstype)
	}
	if err != nil {
		return nil, err
	}
	forcedRO := dev.ReadOnly() && flags&abi.MS_RDONLY == 0
	if forcedRO {
		flags |= abi.MS_RDONLY
	}
	d, err := k.walkAt(abi.AT_FDCWD, target, 0)
	if err != nil {
		return nil, err
	}
	defer k.vfs.Put(d)
	devt, _ := devNumber(dev.Name())
	for rdev, n := range k.devNames {
		if n == dev.Name() {
			devt = rdev
		}
	}
	m, err := k.vfs.Mount(d, vfs.MountInfo{
		Type: t, Source: "/dev/" + dev.Name(), Device: dev, Dev: devt, Flags: flags, Data: data,
		Others: k.otherDevices(dev.Name()),
	})
	if err != nil {
		return nil, err
	}
	if forcedRO {
		k.log.Printf("%s: write-protected, mounted read-only", dev.Name())
	}
	mode := "rw"
	if m.ReadOnly() {
		mode = "ro"
	}
	k.log.Printf("VFS: mounted /dev/%s on %s type %s (%s)", dev.Name(), k.vfs.PathOf(m.Root()), t.Name(), mode)
	return m, nil
}

// otherDevices returns the block devices (disks and partitions) other
// than the one named, in name order: where a filesystem over several
// devices finds its other members, as Linux's btrfs finds them among
// the devices udev's scan registered.
func (k *Kernel) otherDevices(name string) []vfs.BlockDevice {
	k.devMu.Lock()
	var names []string
	for _, n := range k.devNames {
		if n != name {
			names = append(names, n)
		}
	}
	k.devMu.Unlock()
	sort.Strings(names)
	var out []vfs.BlockDevice
	for _, n := range names {
		if bd, err := k.devs.device(n); err == nil {
			out = append(out, bd)
		}
	}
	return out
}

// MountDev mounts block device dev ("vda1" or "/dev/vda1") on the
// directory /mnt/<dev>, made if missing, as LKL's lkl_mount_dev does, and
// returns that directory. Errors: as Mount.
func (k *Kernel) MountDev(dev, fstype string, flags uint64, data string) (string, error) {
	name := strings.TrimPrefix(dev, "/dev/")
	if name == "" || strings.Contains(name, "/") {
		return "", abi.Errorf(abi.ENOENT, "bad device name %q", dev)
	}
	dir := "/mnt/" + name
	k.mountMu.Lock()
	defer k.mountMu.Unlock()
	if k.halted {
		return "", abi.Errorf(abi.EIO, "kernel halted")
	}
	if _, err := k.devs.device(name); err != nil {
		return "", err
	}
	if err := k.vfs.Mkdirat(k.cred(), nil, dir, 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		return "", err
	}
	if _, err := k.mountLocked("/dev/"+name, dir, fstype, flags, data); err != nil {
		return "", err
	}
	return dir, nil
}

// Umount is umount2(2): it unmounts the filesystem mounted on target.
// flags may hold MNT_FORCE, which changes nothing (no I/O is ever stuck),
// and MNT_DETACH, which is refused (no lazy unmount): EINVAL.
//
// Errors: ENOENT/ENOTDIR as path walk gives them; EINVAL if target is not
// the root of a mount, is "/", or flags are unknown; EBUSY if files are
// open on the mount or another filesystem is mounted under it.
func (k *Kernel) Umount(target string, flags int) error {
	if flags&^abi.MNT_FORCE != 0 {
		return abi.EINVAL
	}
	k.mountMu.Lock()
	defer k.mountMu.Unlock()
	d, err := k.walkAt(abi.AT_FDCWD, target, 0)
	if err != nil {
		return err
	}
	defer k.vfs.Put(d)
	m := d.Mount()
	if err := k.vfs.Umount(d); err != nil {
		return err
	}
	k.log.Printf("VFS: unmounted %s from %s", m.Source(), target)
	return nil
}

// devNode makes the block device node p, rw-rw---- whatever the umask
// (as devtmpfs makes nodes), unless it exists.
func (k *Kernel) devNode(p string, rdev uint64) error {
	err := k.vfs.Mknodat(k.cred(), nil, p, abi.S_IFBLK|0o660, rdev)
	if errors.Is(err, abi.EEXIST) {
		return nil
	}
	if err != nil {
		return err
	}
	d, err := k.walkAt(abi.AT_FDCWD, p, vfs.WalkNoFollow)
	if err != nil {
		return err
	}
	defer k.vfs.Put(d)
	return k.vfs.Chmod(d, 0o660)
}
