package ext4

import (
	"bytes"
	"testing"
)

// countingDev counts the flushes (Sync) and the writebacks without flush
// (Writeback) a mount asks of its device.
type countingDev struct {
	rwDev
	syncs, writebacks int
}

func (d *countingDev) Sync() error      { d.syncs++; return d.rwDev.Sync() }
func (d *countingDev) Writeback() error { d.writebacks++; return nil }

// TestNoBarrier: a mount with nobarrier (or barrier=0) writes everything
// a default mount does, journal included, but never asks the device for a
// flush; a default mount flushes at every commit.
func TestNoBarrier(t *testing.T) {
	for _, c := range []struct {
		opts      string
		wantFlush bool
	}{{"", true}, {"barrier", true}, {"barrier=1", true}, {"nobarrier", false}, {"barrier=0", false}} {
		t.Run(c.opts, func(t *testing.T) {
			img := makeWriteImage(t, []string{"-b", "4096"}, 16, map[string][]byte{"f": nil})
			dev := &countingDev{rwDev: openDevRW(t, img)}
			sb, err := NewType().Mount(dev, 0, c.opts, &testLog{})
			if err != nil {
				t.Fatal(err)
			}
			f := sb.(*fsys)
			fi := rwFile(t, f, "f")
			m := &fileModel{}
			data := bytes.Repeat([]byte("nobarrier "), 1000)
			if _, err := fi.WriteAt(testCtx, data, 3); err != nil {
				t.Fatal(err)
			}
			m.write(data, 3)
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			umountAndCheck(t, f, img, "f", m)
			if got := dev.syncs > 0; got != c.wantFlush {
				t.Errorf("mount options %q: %d flushes, %d writebacks without flush", c.opts, dev.syncs, dev.writebacks)
			}
			if !c.wantFlush && dev.writebacks == 0 {
				t.Errorf("mount options %q: commits neither flushed nor wrote back", c.opts)
			}
		})
	}
}
