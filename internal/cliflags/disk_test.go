package cliflags

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestPartList(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"vda1"}, "partition 1"},
		{[]string{"vda1", "vda2"}, "partitions 1 and 2"},
		{[]string{"vda1", "vda2", "vda5"}, "partitions 1, 2 and 5"},
	} {
		if got := partList("vda", tc.parts); got != tc.want {
			t.Errorf("partList(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"vda2"}, "1 partition (2)"},
		{[]string{"vda1", "vda2", "vda5"}, "3 partitions (1, 2 and 5)"},
	} {
		if got := partCount("vda", tc.parts); got != tc.want {
			t.Errorf("partCount(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}

// TestFlags parses the short and long spellings LKL's tools use.
func TestFlags(t *testing.T) {
	var d Disk
	app := &cli.App{Flags: d.Flags(), Action: func(*cli.Context) error { return nil }}
	if err := app.Run([]string{"x", "-P", "2", "-t", "ext4", "--mb", "64", "-p", "--no-journal", "--device", "b.img", "--device", "c.img"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, Disk{Partition: 2, FSType: "ext4", MemoryMB: 64, Printk: true, NoJournal: true, Devices: []string{"b.img", "c.img"}}) {
		t.Errorf("parsed %+v", d)
	}
	d = Disk{}
	if err := app.Run([]string{"x"}); err != nil {
		t.Fatal(err)
	}
	if d.MemoryMB != 32 || d.Partition != 0 || d.FSType != "" || d.NoJournal {
		t.Errorf("defaults %+v", d)
	}
	if got := d.MountData(); got != "" {
		t.Errorf("MountData() = %q without --no-journal", got)
	}
	d.NoJournal = true
	if got := d.MountData(); got != "noload" {
		t.Errorf("MountData() = %q with --no-journal, want noload", got)
	}
}

// TestMountErrors: what Mount says of an image it cannot use, every
// word of it from the kernel (AddDisk's errno, the device read through
// /dev/vda): a missing file, a directory, an image format without a
// backend, a file shorter than a sector, text, an unknown -t (checked
// before the image is opened), and an alias picking its type.
func TestMountErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	qcow := write("disk.qcow2", append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 4096)...))
	vdi := write("disk.vdi", append(append(make([]byte, 0x40), 0x7f, 0x10, 0xda, 0xbe), make([]byte, 4096)...))
	tiny := write("tiny.img", []byte("abc"))
	text := write("text.img", bytes.Repeat([]byte("not a filesystem "), 1000))
	missing := filepath.Join(dir, "missing.img")
	for _, tc := range []struct {
		d     Disk
		image string
		want  string
	}{
		{Disk{}, missing, missing + ": no such file or directory"},
		{Disk{}, dir, dir + ": is a directory, not a disk image"},
		{Disk{}, qcow, qcow + ": a qcow2 image this kernel cannot read: qcow2: corrupt image: header_length 0"},
		{Disk{}, vdi, vdi + ": a VDI image, a format this kernel cannot open yet"},
		{Disk{}, tiny, tiny + ": not a filesystem this kernel reads (ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs): an empty file, or one shorter than a sector (512 bytes)"},
		{Disk{}, text, text + `: not a filesystem this kernel reads (ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs): no filesystem or partition table found (first bytes: 6e 6f 74 20`},
		{Disk{FSType: "zfs"}, missing, "-t zfs: unknown filesystem type (this kernel reads ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs)"},
		{Disk{FSType: "ext3"}, text, text + ": mount vda (ext3): "},
	} {
		tc.d.MemoryMB = 4
		m, err := tc.d.Mount(tc.image, true, nil)
		if err == nil {
			m.Kernel.Halt()
			t.Errorf("%s -t %q: mounted", tc.image, tc.d.FSType)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s -t %q: %q, want %q", tc.image, tc.d.FSType, err, tc.want)
		}
		if tc.image == missing && tc.d.FSType == "" && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v is not ErrNotExist", tc.image, err)
		}
	}
}
