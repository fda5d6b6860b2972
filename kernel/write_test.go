package kernel

import (
	"testing"

	"github.com/lklimg/lklimg/kernel/vfs/vfstest"
)

// bootRamfs boots a kernel without disks: its "/" is the ramfs.
func bootRamfs(t *testing.T, cfg Config) *Kernel {
	t.Helper()
	devs := &fakeDevices{devs: map[string]*vfstest.Device{}, parts: map[string][]string{}}
	k, err := boot(cfg, newPrintk(nil), devs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	return k
}
