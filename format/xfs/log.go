package xfs

// The log (xfs_log_format.h): an internal log is sb_logblocks blocks
// from sb_logstart, written in 512-byte basic blocks (BBs) as records,
// each a header (struct xlog_rec_header) and its data. Every BB's first
// word is the cycle number of the pass over the log that wrote it (the
// word it replaced is kept in the header's h_cycle_data); a header's
// first word is its magic and its cycle follows. The head, where the
// next record goes, is where the cycle number drops; a log is clean when
// the last record before the head is an unmount record alone
// (xlog_find_tail, xlog_check_unmount_rec).
const (
	BBSize = 512
	// LogHeaderMagic is h_magicno (XLOG_HEADER_MAGIC_NUM).
	LogHeaderMagic = 0xFEEDBABE
	// LogHeaderCycleSize is the data a header's h_cycle_data covers
	// (XLOG_HEADER_CYCLE_SIZE): a bigger record has more header BBs.
	LogHeaderCycleSize = 32 << 10
	// LogVersion2 is h_version's bit for v2 logs.
	LogVersion2 = 2
	// LogUnmountTrans is xlog_op_header's oh_flags bit of the unmount
	// record (XLOG_UNMOUNT_TRANS).
	LogUnmountTrans = 0x20
	// MaxLogRecordBBs bounds the BBs of a record: 256 KiB of data
	// (XLOG_MAX_RECORD_BSIZE) and its headers.
	MaxLogRecordBBs = 256<<10/BBSize + 8
)

// LogCycle is a BB's cycle number (xlog_get_cycle).
func LogCycle(bb []byte) uint32 {
	if be.Uint32(bb) == LogHeaderMagic {
		return be.Uint32(bb[4:])
	}
	return be.Uint32(bb)
}

// LogRecHeader is the part of struct xlog_rec_header that tells where
// a record ends and which come before it: h_version at 8, h_len at 12,
// h_lsn at 16, h_tail_lsn at 24, h_num_logops at 40, h_size at 320.
type LogRecHeader struct {
	Lsn       uint64 // h_lsn: cycle << 32 | block
	TailLsn   uint64 // h_tail_lsn: the oldest record still needed
	Cycle     uint32
	Version   uint32
	Len       uint32
	NumLogOps uint32
	Size      uint32
}

// DecodeLogRecHeader decodes a header BB (false: not a header).
func DecodeLogRecHeader(bb []byte) (LogRecHeader, bool) {
	if len(bb) < BBSize || be.Uint32(bb) != LogHeaderMagic {
		return LogRecHeader{}, false
	}
	return LogRecHeader{
		Lsn:       be.Uint64(bb[16:]),
		TailLsn:   be.Uint64(bb[24:]),
		Cycle:     be.Uint32(bb[4:]),
		Version:   be.Uint32(bb[8:]),
		Len:       be.Uint32(bb[12:]),
		NumLogOps: be.Uint32(bb[40:]),
		Size:      be.Uint32(bb[320:]),
	}, true
}

// HeaderBBs is how many BBs the record's header takes
// (xlog_logrec_hblks).
func (h LogRecHeader) HeaderBBs() int64 {
	if h.Version&LogVersion2 != 0 && h.Size > LogHeaderCycleSize {
		return (int64(h.Size) + LogHeaderCycleSize - 1) / LogHeaderCycleSize
	}
	return 1
}
