package kernel

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/block"
	"github.com/lklimg/lklimg/kernel/vfs"
	"github.com/lklimg/lklimg/kernel/vfs/vfstest"
)

// fakeDevices is a block layer of fake disks: addDisk's path is
// "name:nparts" and yields vda with nparts partitions.
type fakeDevices struct {
	mu     sync.Mutex
	next   int
	devs   map[string]*vfstest.Device
	parts  map[string][]string
	closed bool
}

func (f *fakeDevices) addDisk(path string, opts DiskOptions) (string, error) {
	ro := opts.ReadOnly
	f.mu.Lock()
	defer f.mu.Unlock()
	var nparts int
	if _, err := fmt.Sscanf(path, "disk:%d", &nparts); err != nil {
		return "", abi.ENOENT
	}
	name := "vd" + string(rune('a'+f.next))
	f.next++
	f.devs[name] = &vfstest.Device{DevName: name, Bytes: 1 << 30, RO: ro}
	for i := 1; i <= nparts; i++ {
		p := fmt.Sprintf("%s%d", name, i)
		f.devs[p] = &vfstest.Device{DevName: p, Bytes: 1 << 20, RO: ro}
		f.parts[name] = append(f.parts[name], p)
	}
	return name, nil
}

func (f *fakeDevices) resizeDisk(name string, n int64) error { return abi.EOPNOTSUPP }
func (f *fakeDevices) rereadPartitions(*block.Device, any) ([]string, []string, error) {
	return nil, nil, abi.EOPNOTSUPP
}

func (f *fakeDevices) device(name string) (vfs.BlockDevice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.devs[strings.TrimPrefix(name, "/dev/")]; ok {
		return d, nil
	}
	return nil, abi.ENOENT
}

func (f *fakeDevices) partitions(disk string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.devs[disk]; !ok {
		return nil, abi.ENOENT
	}
	return f.parts[disk], nil
}

func (f *fakeDevices) tableLabel(disk string) (string, error) {
	parts, err := f.partitions(disk)
	if err != nil || len(parts) == 0 {
		return "", err
	}
	return "gpt", nil
}

func (f *fakeDevices) partitionInfo(disk string) (PartitionTableInfo, error) {
	parts, err := f.partitions(disk)
	if err != nil {
		return PartitionTableInfo{}, err
	}
	info := PartitionTableInfo{Disk: disk, Size: 1 << 30, SectorSize: 512, Sectors: 1 << 21}
	if len(parts) > 0 {
		info.Label = "gpt"
	}
	for i, p := range parts {
		info.Partitions = append(info.Partitions, PartitionInfo{Number: i + 1, Device: p,
			Start: uint64(2048 * (i + 1)), Sectors: 2048, Offset: int64(2048*(i+1)) * 512, Size: 1 << 20})
	}
	return info, nil
}

func (f *fakeDevices) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// fakeImage is the tree on the fake vda1.
func fakeImage() *vfstest.Node {
	bt := abi.Timespec{Sec: 1700000000, Nsec: 5}
	hello := vfstest.File("hello, world\n")
	hello.Xattrs = map[string][]byte{"user.a": []byte("alpha"), "user.long": []byte(strings.Repeat("x", 100))}
	hello.Btime = &bt
	hello.Mtime = abi.Timespec{Sec: 1600000000, Nsec: 7}
	sparse := &vfstest.Node{Mode: abi.S_IFREG | 0o600, Sparse: true, Data: make([]byte, 5*4096)}
	copy(sparse.Data[2*4096:], "data")
	big := make([]byte, 100000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	root := vfstest.Dir(map[string]*vfstest.Node{
		"hello.txt": hello,
		"big":       {Mode: abi.S_IFREG | 0o644, Data: big},
		"sparse":    sparse,
		"dir":       vfstest.Dir(map[string]*vfstest.Node{"a": vfstest.File("A"), "b": vfstest.File("B")}),
		"link":      vfstest.Symlink("hello.txt"),
		"dirlink":   vfstest.Symlink("dir"),
		"abslink":   vfstest.Symlink("/mnt/vda1/dir/a"),
		"loop":      vfstest.Symlink("loop"),
		"dev":       {Mode: abi.S_IFCHR | 0o600, Rdev: abi.Makedev(1, 3)},
		"empty":     vfstest.Dir(nil),
	})
	many := vfstest.Dir(nil)
	for i := 0; i < 300; i++ {
		many.Children[fmt.Sprintf("entry-with-a-longish-name-%03d", i)] = vfstest.File(fmt.Sprint(i))
	}
	root.Children["many"] = many
	return root
}

// cleanImage is fakeImage without the symlink loop, which no io/fs can
// open, for fstest.TestFS.
func cleanImage() *vfstest.Node {
	n := fakeImage()
	delete(n.Children, "loop")
	n.Children["abslink"] = vfstest.Symlink("/mnt/vda3/dir/a")
	return n
}

// bootFake boots a kernel with a fake disk "vda" of three partitions: vda1
// holds fakeImage, vda2 nothing any type knows.
func bootFake(t *testing.T, ro bool) (*Kernel, *vfstest.Type) {
	t.Helper()
	typ := &vfstest.Type{TypeName: "fakefs", Images: map[string]*vfstest.Node{"vda1": fakeImage(), "vda3": cleanImage()}}
	noxattr := &vfstest.Type{TypeName: "plainfs", NoXattrs: true, Images: map[string]*vfstest.Node{"vdb": fakeImage()}}
	devs := &fakeDevices{devs: map[string]*vfstest.Device{}, parts: map[string][]string{}}
	k, err := boot(Config{}, newPrintk(nil), devs, []fsType{{t: typ, aliases: []string{"fake2"}}, {t: noxattr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	name, err := k.AddDisk("disk:3", DiskOptions{ReadOnly: ro})
	if err != nil || name != "vda" {
		t.Fatalf("AddDisk: %q %v", name, err)
	}
	return k, typ
}
