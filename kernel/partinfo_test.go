package kernel

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// sfdiskJSON is the part of `sfdisk --json` PartitionInfo is compared with.
type sfdiskJSON struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int    `json:"sectorsize"`
		FirstLBA   uint64 `json:"firstlba"`
		LastLBA    uint64 `json:"lastlba"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    uint64 `json:"start"`
			Size     uint64 `json:"size"`
			Type     string `json:"type"`
			UUID     string `json:"uuid"`
			Name     string `json:"name"`
			Attrs    string `json:"attrs"`
			Bootable bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// sfdiskTypeNames returns sfdisk's list of type names for a label
// (`sfdisk -T`): type GUID or hex byte to name.
func sfdiskTypeNames(t *testing.T, sfdisk, label string) map[string]string {
	t.Helper()
	names := make(map[string]string)
	for _, line := range strings.Split(string(testutil.Run(t, sfdisk, "-T", "--label", label)), "\n") {
		id, name, ok := strings.Cut(strings.TrimSpace(line), "  ")
		if ok && id != "Id" {
			names[strings.ToUpper(id)] = strings.TrimSpace(name)
		}
	}
	return names
}

// bootImage boots a kernel with img attached read-only, halted when the
// test ends, and returns it with the disk's name.
func bootImage(t *testing.T, img string) (*Kernel, string) {
	t.Helper()
	k, err := Boot(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	dev, err := k.AddDisk(img, DiskOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return k, dev
}

// TestPartitionInfo partitions images with sfdisk (GPT with names and
// attributes; MBR with a boot flag and logical partitions in an extended
// one) and compares PartitionInfo with `sfdisk --json` and, for the type
// names, with `sfdisk -T`.
func TestPartitionInfo(t *testing.T) {
	sfdisk := testutil.Need(t, "sfdisk")[0]
	for _, c := range []struct {
		name   string
		size   int64
		script string
		// attrs are the expected GPT attribute bits by partition number.
		attrs map[int]uint64
	}{
		{"gpt", 24 << 20, "label: gpt\n" +
			"start=2048, size=2048, type=uefi, name=\"esp\", attrs=\"RequiredPartition GUID:60,63\"\n" +
			"start=4096, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=\"bios\"\n" +
			"start=6144, size=8192, type=linux, name=\"root fs\"\n" +
			"start=14336, size=4096, type=swap\n" +
			"start=18432, size=2048, type=lvm\n" +
			"start=20480, size=2048, type=raid\n" +
			"start=22528, size=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=\"data\"\n" +
			"start=24576, size=2048, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, attrs=\"LegacyBIOSBootable\"\n",
			map[int]uint64{1: 1 | 1<<60 | 1<<63, 8: 1 << 2}},
		{"dos", 40 << 20, "label: dos\n" +
			"start=2048, size=4096, type=83, bootable\n" +
			"start=6144, size=4096, type=c\n" +
			"start=10240, size=61440, type=5\n" +
			"start=12288, size=4096, type=82\n" +
			"start=18432, size=8192, type=8e\n" +
			"start=28672, size=2048, type=fd\n" +
			"start=71680, size=8192, type=ef\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			if err := os.WriteFile(img, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, c.size); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sfdisk, "-q", "--no-reread", "--no-tell-kernel", img)
			cmd.Stdin = strings.NewReader(c.script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sfdisk: %v\n%s", err, out)
			}
			var sf sfdiskJSON
			if err := json.Unmarshal(testutil.Run(t, sfdisk, "--json", img), &sf); err != nil {
				t.Fatal(err)
			}
			want := sf.PartitionTable
			names := sfdiskTypeNames(t, sfdisk, c.name)

			k, dev := bootImage(t, img)
			info, err := k.PartitionInfo("/dev/" + dev)
			if err != nil {
				t.Fatal(err)
			}
			if info.Disk != dev || info.Size != c.size || info.SectorSize != want.SectorSize || info.Sectors != uint64(c.size)/512 {
				t.Errorf("disk %s: %d bytes, %d sectors of %d; want %s, %d bytes, %d sectors of %d",
					info.Disk, info.Size, info.Sectors, info.SectorSize, dev, c.size, c.size/512, want.SectorSize)
			}
			if info.Label != want.Label || info.ID != want.ID && !(want.Label == "gpt" && strings.EqualFold(info.ID, want.ID)) {
				t.Errorf("table %s %s, sfdisk says %s %s", info.Label, info.ID, want.Label, want.ID)
			}
			if info.Label == "gpt" && (info.FirstLBA != want.FirstLBA || info.LastLBA != want.LastLBA) {
				t.Errorf("usable LBAs %d-%d, sfdisk says %d-%d", info.FirstLBA, info.LastLBA, want.FirstLBA, want.LastLBA)
			}
			if len(info.Partitions) != len(want.Partitions) {
				t.Fatalf("%d partitions, sfdisk says %d: %+v", len(info.Partitions), len(want.Partitions), info.Partitions)
			}
			parts, err := k.Partitions(dev)
			if err != nil || len(parts) != len(info.Partitions) {
				t.Errorf("Partitions: %v %v", parts, err)
			}
			for i, wp := range want.Partitions {
				p := info.Partitions[i]
				num, err := strconv.Atoi(strings.TrimPrefix(wp.Node, img))
				if err != nil {
					t.Fatal(err)
				}
				if p.Number != num || p.Device != fmt.Sprintf("%s%d", dev, num) || !slices.Contains(parts, p.Device) {
					t.Errorf("partition %d: number %d device %s, sfdisk says %s", i, p.Number, p.Device, wp.Node)
				}
				if p.Start != wp.Start || p.Sectors != wp.Size || p.Offset != int64(wp.Start)*512 || p.Size != int64(wp.Size)*512 ||
					p.End() != wp.Start+wp.Size-1 {
					t.Errorf("%s: start %d sectors %d (bytes %d+%d, end %d), sfdisk says %d %d",
						p.Device, p.Start, p.Sectors, p.Offset, p.Size, p.End(), wp.Start, wp.Size)
				}
				var typ string
				if info.Label == "dos" {
					typ = fmt.Sprintf("%x", p.Type)
					if typ != wp.Type || p.Bootable != wp.Bootable || p.TypeGUID != "" || p.UUID != "" {
						t.Errorf("%s: type %s bootable %v (GUIDs %q %q), sfdisk says %s %v", p.Device, typ, p.Bootable, p.TypeGUID, p.UUID, wp.Type, wp.Bootable)
					}
					if p.Extended != (wp.Type == "5") || p.Logical != (num > 4) {
						t.Errorf("%s: extended %v logical %v", p.Device, p.Extended, p.Logical)
					}
				} else {
					typ = p.TypeGUID
					if typ != wp.Type || p.UUID != wp.UUID || p.Name != wp.Name || p.Attributes != c.attrs[num] {
						t.Errorf("%s: %s %s %q %#x, sfdisk says %s %s %q %q (%#x)", p.Device, typ, p.UUID, p.Name, p.Attributes,
							wp.Type, wp.UUID, wp.Name, wp.Attrs, c.attrs[num])
					}
				}
				// sfdisk -T pads the MBR type byte: " 5", "83".
				wantName := names[strings.ToUpper(typ)]
				if p.TypeName == "" || p.TypeName != wantName {
					t.Errorf("%s: type %s named %q, sfdisk -T names it %q", p.Device, typ, p.TypeName, wantName)
				}
			}
		})
	}

	// A disk without a table: the size, no label, no partitions.
	img := filepath.Join(t.TempDir(), "bare.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	k, dev := bootImage(t, img)
	if info, err := k.PartitionInfo(dev); err != nil || info.Label != "" || info.Size != 1<<20 || info.Sectors != 2048 || len(info.Partitions) != 0 {
		t.Errorf("bare disk: %+v %v", info, err)
	}
	if _, err := k.PartitionInfo("vdq"); err == nil {
		t.Errorf("PartitionInfo of an unknown disk: no error")
	}
}

// TestPartitionInfoBeyondEnd cuts an MBR disk after sfdisk partitioned
// it, so that partition 2 runs past the end and partition 3 starts beyond
// it: PartitionInfo gives the table's figures, as sfdisk does, while the
// devices are cut or left out, as Linux does.
func TestPartitionInfoBeyondEnd(t *testing.T) {
	sfdisk := testutil.Need(t, "sfdisk")[0]
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 40<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sfdisk, "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader("label: dos\nstart=2048, size=4096\nstart=30000, size=20000\nstart=60000, size=8000\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	if err := os.Truncate(img, 20<<20); err != nil {
		t.Fatal(err)
	}
	var sf sfdiskJSON
	if err := json.Unmarshal(testutil.Run(t, sfdisk, "--json", img), &sf); err != nil {
		t.Fatal(err)
	}
	k, dev := bootImage(t, img)
	info, err := k.PartitionInfo(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Partitions) != len(sf.PartitionTable.Partitions) {
		t.Fatalf("%d partitions, sfdisk says %d", len(info.Partitions), len(sf.PartitionTable.Partitions))
	}
	for i, wp := range sf.PartitionTable.Partitions {
		if p := info.Partitions[i]; p.Start != wp.Start || p.Sectors != wp.Size {
			t.Errorf("%s: start %d sectors %d, sfdisk says %d %d", p.Device, p.Start, p.Sectors, wp.Start, wp.Size)
		}
	}
	if parts, err := k.Partitions(dev); err != nil || !slices.Equal(parts, []string{"vda1", "vda2"}) {
		t.Errorf("Partitions: %v %v", parts, err)
	}
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, "/dev/vda3", &st, 0); err == nil {
		t.Errorf("/dev/vda3 exists for a partition beyond the end of the disk")
	}
}
