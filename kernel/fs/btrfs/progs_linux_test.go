package btrfs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The images testdata/progs.sh made with the newest btrfs-progs (what
// Debian 12's mkfs.btrfs cannot make), read against the trees the host
// kernel showed of them, recorded beside them: the test needs neither
// the new tools nor the host's mount. BTRFS_RECORD=1 records the trees
// again from the host's loop mounts (progs.sh runs it so).

// progsImages are the committed images: each filesystem's devices
// (testdata/progs-DEV.img.zst) and its recorded tree
// (testdata/progs-NAME.json.gz).
var progsImages = []struct {
	name string
	devs []string
	// log: the image holds a log tree; the tree recorded is the host's
	// once its read-write mount replayed it.
	log bool
}{
	{"rootdir", []string{"rootdir"}, false},
	{"mixed", []string{"mixed"}, false},
	{"raid5", []string{"raid5-0", "raid5-1", "raid5-2"}, false},
	{"raid10", []string{"raid10-0", "raid10-1", "raid10-2", "raid10-3"}, false},
	{"log", []string{"log"}, true},
}

// recordedView is a host's view as the test keeps it: the tree, and the
// directories the host made up for subvolumes a snapshot lacks
// (hostScan).
type recordedView struct {
	Tree   testutil.Tree
	MadeUp []string
}

func TestProgsImages(t *testing.T) {
	for _, c := range progsImages {
		t.Run(c.name, func(t *testing.T) {
			var imgs []string
			for _, d := range c.devs {
				img := filepath.Join(t.TempDir(), d+".img")
				testutil.Unzstd(t, filepath.Join("testdata", "progs-"+d+".img.zst"), img)
				imgs = append(imgs, img)
			}
			if c.log && !hasLog(t, imgs[0]) {
				t.Fatal("the image has no log tree")
			}
			file := filepath.Join("testdata", "progs-"+c.name+".json.gz")
			if os.Getenv("BTRFS_RECORD") != "" {
				recordView(t, file, imgs, c.log)
			}
			want := loadView(t, file)
			expectView(t, c.name, want.Tree, want.MadeUp, kerneltest.ExportTreeDevices(t, imgs, "", abi.MS_RDONLY, ""))
			if len(imgs) > 1 {
				// Each device missing in turn, -o degraded: the
				// copies on the others (raid10's pair, raid5's
				// metadata in raid1c3) hold all, raid5's data
				// rebuilt from its parity.
				for i := range imgs {
					rest := append(append([]string{}, imgs[:i]...), imgs[i+1:]...)
					want := loadView(t, file)
					expectView(t, fmt.Sprintf("%s without %d", c.name, i), want.Tree, want.MadeUp,
						kerneltest.ExportTreeDevices(t, rest, "", abi.MS_RDONLY, "degraded"))
					if err := kerneltest.MountErr(t, rest[0], "btrfs", abi.MS_RDONLY, ""); err == nil {
						t.Errorf("%s mounted with devices missing", c.name)
					}
				}
			}
		})
	}
}

// loadView reads a recorded view.
func loadView(t *testing.T, file string) recordedView {
	t.Helper()
	var v recordedView
	testutil.ReadJSONGz(t, file, &v)
	return v
}

// recordView records into file the host's view of the filesystem over
// imgs (of a copy whose log the host replayed, when log).
func recordView(t *testing.T, file string, imgs []string, log bool) {
	t.Helper()
	var v recordedView
	switch {
	case log:
		replayed, _ := hostReplayed(t, imgs[0])
		v.Tree, v.MadeUp = hostView(t, replayed, "")
	case len(imgs) == 1:
		v.Tree, v.MadeUp = hostView(t, imgs[0], "")
	default:
		mnt, umount := hostMountDevices(t, imgs, "ro")
		v.Tree, v.MadeUp = hostScan(t, mnt)
		umount()
	}
	testutil.WriteJSONGz(t, file, v)
}
