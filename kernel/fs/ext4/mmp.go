package ext4

import (
	"bytes"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Multiple mount protection (fs/ext4/mmp.c), for a read-write mount of a
// filesystem with the mmp feature: the image may be shared (a file on a
// network filesystem, a disk two hosts see), and a second read-write
// mount would corrupt it. The mount writes a random sequence number into
// the MMP block, waits longer than another node's update interval, and
// mounts only if the number is still its own (ext4_multi_mount_protect);
// then a goroutine changes the number every s_mmp_update_interval seconds
// (kmmpd) so that others see the filesystem in use, and the unmount
// writes MmpSeqClean. Read-only mounts do none of this, as Linux's.
//
// The block is read past the kernel's cache (vfs.FreshReader: another
// host's writes must be seen) and written back at once, without a flush
// (write_mmp_block's REQ_SYNC write has no preflush either).

// mmpSleep waits d; tests shorten the waits.
var mmpSleep = time.Sleep

// mmpState is a read-write mount's hold on the MMP block.
type mmpState struct {
	off  int64  // the block's byte offset
	buf  []byte // the block as written last
	m    *disk.Mmp
	stop chan struct{}
	done chan error  // the goroutine's end: the clean write's error
	lost atomic.Bool // another node took the block: the mount is aborted
}

// mmpProtect claims the MMP block for a read-write mount, or says why
// another node holds it (EBUSY) or it cannot be used.
func (f *fsys) mmpProtect() error {
	sb := f.Super
	if sb.SMmpBlock < uint64(sb.SFirstDataBlock) || sb.SMmpBlock >= sb.SBlocksCount {
		return abi.Errorf(abi.EUCLEAN, "invalid MMP block %d in the superblock", sb.SMmpBlock)
	}
	st := &mmpState{off: int64(sb.SMmpBlock) * int64(f.BlockSize), buf: make([]byte, f.BlockSize)}
	if err := f.mmpRead(st); err != nil {
		return err
	}
	check := max(uint32(st.m.CheckInterval), disk.MmpMinCheckInterval)
	wait := time.Duration(min(2*check+1, check+60)) * time.Second
	seq := st.m.Seq
	switch seq {
	case disk.MmpSeqClean:
	case disk.MmpSeqFsck:
		return f.mmpBusy(st.m, "fsck is running on the filesystem")
	default:
		// In use, or left so by a node that stopped: wait longer than
		// its updates take, and see whether the number moved.
		f.log.Printf("EXT4-fs (%s): MMP: the filesystem was not left clean: waiting %v for another node's update", f.raw.Name(), wait)
		mmpSleep(wait)
		if err := f.mmpRead(st); err != nil {
			return err
		}
		if st.m.Seq != seq {
			return f.mmpBusy(st.m, "Device is already active on another node.")
		}
	}
	seq = rand.Uint32N(disk.MmpSeqMax + 1) // mmp_new_seq
	st.m.Seq = seq
	if err := f.mmpWrite(st); err != nil {
		return err
	}
	mmpSleep(wait)
	if err := f.mmpRead(st); err != nil {
		return err
	}
	if st.m.Seq != seq {
		return f.mmpBusy(st.m, "Device is already active on another node.")
	}
	// kmmpd's own fields: who holds it and how long others must wait.
	update := max(uint32(sb.SMmpUpdateInterval), 1)
	st.m.CheckInterval = uint16(max(disk.MmpCheckMult*update, disk.MmpMinCheckInterval))
	host, _ := os.Hostname()
	st.m.Nodename = [64]byte{}
	copy(st.m.Nodename[:len(st.m.Nodename)-1], host)
	st.m.Bdevname = [32]byte{}
	copy(st.m.Bdevname[:len(st.m.Bdevname)-1], f.raw.Name())
	// The first update before the mount returns: from then on the
	// block names this node.
	st.m.Seq, st.m.Time = nextSeq(seq), uint64(time.Now().Unix())
	if err := f.mmpWrite(st); err != nil {
		return err
	}
	st.stop, st.done = make(chan struct{}), make(chan error, 1)
	f.mmp = st
	go f.mmpRun(st, time.Duration(update)*time.Second)
	return nil
}

// nextSeq is the sequence number after seq (kmmpd's increment, from 1
// again past MmpSeqMax).
func nextSeq(seq uint32) uint32 {
	if seq >= disk.MmpSeqMax {
		return 1
	}
	return seq + 1
}

// mmpRun is kmmpd: the sequence number moved every update interval, and
// read back when an update came later than others wait (the host was
// slow), to see that no other node took the block meanwhile: if one did,
// the mount is aborted (EBUSY: begin refuses every change after), as
// ext4_error_err aborts it, and the block is left to the other node. At
// stop, the block is left clean.
func (f *fsys) mmpRun(st *mmpState, update time.Duration) {
	last := time.Now() // mmpProtect's update
	for {
		select {
		case <-st.stop:
			st.m.Seq, st.m.Time = disk.MmpSeqClean, uint64(time.Now().Unix())
			st.done <- f.mmpWrite(st)
			return
		case <-time.After(update - time.Since(last)):
		}
		late := time.Since(last)
		if late > time.Duration(st.m.CheckInterval)*time.Second {
			mine := *st.m
			if err := f.mmpRead(st); err != nil || st.m.Seq != mine.Seq || st.m.Nodename != mine.Nodename {
				f.log.Printf("EXT4-fs error (%s): Error while updating MMP info. The filesystem seems to have been multiply mounted.", f.raw.Name())
				st.lost.Store(true) // the next change is refused (begin)
				<-st.stop
				st.done <- nil // the block is the other node's now
				return
			}
		}
		// The check interval follows how late the update came.
		st.m.CheckInterval = uint16(min(max(disk.MmpCheckMult*uint32(late/time.Second), disk.MmpMinCheckInterval), disk.MmpMaxCheckInterval))
		st.m.Seq, st.m.Time = nextSeq(st.m.Seq), uint64(time.Now().Unix())
		last = time.Now()
		if err := f.mmpWrite(st); err != nil {
			f.log.Printf("EXT4-fs (%s): Error writing to MMP block: %v", f.raw.Name(), err)
		}
	}
}

// mmpRelease stops the updates and leaves the block clean (the end of
// kmmpd at unmount).
func (f *fsys) mmpRelease() error {
	st := f.mmp
	if st == nil {
		return nil
	}
	f.mmp = nil
	close(st.stop)
	return <-st.done
}

// mmpRead reads the MMP block from the disk into st.
func (f *fsys) mmpRead(st *mmpState) error {
	read := f.raw.ReadAt
	if fr, ok := f.raw.(vfs.FreshReader); ok {
		read = fr.ReadFresh
	}
	if _, err := read(st.buf, st.off); err != nil {
		return abi.Errorf(abi.EIO, "ext4: MMP block: %v", err)
	}
	m, err := f.DecodeMmp(st.buf)
	if err != nil {
		return err
	}
	st.m = m
	return nil
}

// mmpWrite writes st's block to the disk, past the running transaction:
// the MMP block is never journaled.
func (f *fsys) mmpWrite(st *mmpState) error {
	f.EncodeMmp(st.m, st.buf)
	out := f.raw.(vfs.BlockWriter) // f.out but for its count, which the mount's goroutine keeps
	if _, err := out.WriteAt(st.buf, st.off); err != nil {
		return err
	}
	if wb, ok := f.raw.(vfs.Writebacker); ok {
		return wb.Writeback()
	}
	return out.Sync()
}

// mmpBusy is the refusal of a mount the MMP block says is unsafe, naming
// the node that holds it, as dump_mmp_msg does.
func (f *fsys) mmpBusy(m *disk.Mmp, why string) error {
	node := string(bytes.TrimRight(m.Nodename[:], "\x00"))
	dev := string(bytes.TrimRight(m.Bdevname[:], "\x00"))
	return abi.Errorf(abi.EBUSY, "MMP: %s (last update by node %q on device %q at %s)", why, node, dev,
		time.Unix(int64(m.Time), 0).UTC().Format(time.RFC3339))
}
