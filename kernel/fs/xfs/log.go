package xfs

import (
	"github.com/lklimg/lklimg/format/xfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// logState is where the log is and what findLog found in it.
type logState struct {
	start int64 // byte offset of the log
	n     int64 // its BBs
	head  int64 // the BB the next record would go to
	tail  int64 // the BB of the oldest record recovery needs
	dirty bool
}

// findLog finds the log's head, whether the log is dirty and where its
// tail is (xlog_find_tail). The head is found as xlog_find_head does
// (the first BB whose cycle drops, by binary search); the log is clean
// when the record before it is a lone unmount record ending at the head
// (xlog_check_unmount_rec), else that record's h_tail_lsn is where
// recovery starts. A log torn by a crash in mid-write is dirty all the
// same, so the checks of stray blocks Linux makes are not needed here.
func (f *fsys) findLog() (logState, error) {
	sb := f.sb
	start, err := f.fsbToByte(sb.LogStart)
	if err != nil {
		return logState{}, abi.Errorf(abi.EUCLEAN, "xfs: log: %v", err)
	}
	size := int64(sb.LogBlocks) << f.blkbits
	if agbno := sb.LogStart & (1<<sb.AgBlkLog - 1); agbno+uint64(sb.LogBlocks) > uint64(sb.AgBlocks) || size < 64*xfs.BBSize {
		return logState{}, abi.Errorf(abi.EUCLEAN, "xfs: log of %d blocks at block %d does not fit its group", sb.LogBlocks, sb.LogStart)
	}
	n := size / xfs.BBSize
	bb := make([]byte, xfs.BBSize)
	read := func(i int64) error {
		i = ((i % n) + n) % n
		return f.readMeta(bb, start+i*xfs.BBSize, "log")
	}
	cycle := func(i int64) (uint32, error) {
		if err := read(i); err != nil {
			return 0, err
		}
		return xfs.LogCycle(bb), nil
	}
	first, err := cycle(0)
	if err != nil {
		return logState{}, err
	}
	last, err := cycle(n - 1)
	if err != nil {
		return logState{}, err
	}
	head := int64(0) // the whole log of one cycle: the head wrapped to 0
	if first != last {
		// Blocks [0, head) hold the new cycle, [head, n) the one
		// before: find the first of last's cycle (xlog_find_cycle_start).
		lo, hi := int64(0), n-1
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			c, err := cycle(mid)
			if err != nil {
				return logState{}, err
			}
			if c == last {
				hi = mid
			} else {
				lo = mid
			}
		}
		head = hi
	}
	st := logState{start: start, n: n, head: head, dirty: true}
	// The last record header before the head.
	for back := int64(1); back <= min(n, xfs.MaxLogRecordBBs); back++ {
		if err := read(head - back); err != nil {
			return logState{}, err
		}
		h, ok := xfs.DecodeLogRecHeader(bb)
		if !ok {
			continue
		}
		rblk := head - back
		st.tail = int64(h.TailLsn & 0xffffffff)
		if st.tail >= n {
			return st, abi.Errorf(abi.EUCLEAN, "xfs: log: tail at block %d of %d", st.tail, n)
		}
		after := rblk + h.HeaderBBs() + (int64(h.Len)+xfs.BBSize-1)/xfs.BBSize
		if ((after%n)+n)%n != head || h.NumLogOps != 1 {
			return st, nil
		}
		// The op header opens the data: oh_flags at byte 9.
		if err := read(rblk + h.HeaderBBs()); err != nil {
			return logState{}, err
		}
		st.dirty = bb[9]&xfs.LogUnmountTrans == 0
		return st, nil
	}
	return st, nil
}
