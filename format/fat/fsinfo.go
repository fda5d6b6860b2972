package fat

import "github.com/lklimg/lklimg/kernel/abi"

// The FSInfo sector of FAT32 (fatgen §5), at BPB_FSInfo (usually sector
// 1, with a copy after the backup boot sector):
//
//	  0 FSI_LeadSig    u32  0x41615252 ("RRaA")
//	484 FSI_StrucSig   u32  0x61417272 ("rrAa")
//	488 FSI_Free_Count u32  free clusters, 0xFFFFFFFF if unknown
//	492 FSI_Nxt_Free   u32  where to look for a free cluster, 0xFFFFFFFF if unknown
//	508 FSI_TrailSig   u32  0xAA550000
//
// Both counts are hints: Linux checks them against the volume's size and
// counts the free clusters itself before statfs reports them unless
// mounted with usefree (fat_fill_super, fat_statfs).
const (
	FSInfoLeadSig  = 0x41615252
	FSInfoStrucSig = 0x61417272
	FSInfoTrailSig = 0xAA550000
	// FSInfoUnknown is a count or hint that is not known.
	FSInfoUnknown = 0xFFFFFFFF

	offFSInfoStrucSig = 484
	offFSInfoFree     = 488
	offFSInfoNextFree = 492
	offFSInfoTrailSig = 508
)

// FSInfo is the FSInfo sector's two hints.
type FSInfo struct {
	FreeCount uint32
	NextFree  uint32
}

// DecodeFSInfo decodes an FSInfo sector. EUCLEAN when a signature is
// wrong (Linux then warns and ignores the sector).
func DecodeFSInfo(p []byte) (FSInfo, error) {
	if len(p) < 512 {
		return FSInfo{}, abi.Errorf(abi.EUCLEAN, "fat: FSInfo: %d bytes, want 512", len(p))
	}
	lead, struc, trail := le.Uint32(p), le.Uint32(p[offFSInfoStrucSig:]), le.Uint32(p[offFSInfoTrailSig:])
	if lead != FSInfoLeadSig || struc != FSInfoStrucSig || trail != FSInfoTrailSig {
		return FSInfo{}, abi.Errorf(abi.EUCLEAN, "fat: invalid FSInfo signature: %#08x, %#08x, %#08x", lead, struc, trail)
	}
	return FSInfo{FreeCount: le.Uint32(p[offFSInfoFree:]), NextFree: le.Uint32(p[offFSInfoNextFree:])}, nil
}

// Encode writes a whole FSInfo sector into p[:512]: signatures, the
// hints, zeros elsewhere.
func (f FSInfo) Encode(p []byte) {
	clear(p[:512])
	le.PutUint32(p, FSInfoLeadSig)
	le.PutUint32(p[offFSInfoStrucSig:], FSInfoStrucSig)
	f.EncodeHints(p)
	le.PutUint32(p[offFSInfoTrailSig:], FSInfoTrailSig)
}

// EncodeHints writes only the two hints into an FSInfo sector p, as a
// driver updates them (fat_clusters_flush), leaving the rest as it is.
func (f FSInfo) EncodeHints(p []byte) {
	le.PutUint32(p[offFSInfoFree:], f.FreeCount)
	le.PutUint32(p[offFSInfoNextFree:], f.NextFree)
}
