package isofs

import (
	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Rock Ridge as fs/isofs/rock.c reads it: a record's system use area,
// less SP's skip, is walked entry by entry, then the continuation area
// the last CE named, and so on (at most maxCE of them).

// maxCE bounds the continuation areas followed for one record
// (RR_MAX_CE_ENTRIES), so that a loop of CE entries ends.
const maxCE = 32

// walkSUSP calls fn for each entry of a record's area su and its
// continuation areas until fn says stop. xa skips 14 more bytes first
// (RR_REGARD_XA: CD-ROM XA's system use information before the SUSP
// entries). Linux's rules: a malformed entry length ends the walk
// quietly (the entries before count); an entry shorter than its fixed
// part, or a continuation area outside its block, is EIO.
func (f *fsys) walkSUSP(su []byte, xa bool, fn func(e iso9660.Entry) (stop bool, err error)) error {
	if f.rockOffset > 0 {
		su = skip(su, f.rockOffset)
	}
	if xa {
		su = skip(su, 14)
	}
	var buf []byte
	for loops := 0; ; loops++ {
		var ce iso9660.CE
		hasCE := false
		for {
			e, rest, ok, err := iso9660.NextEntry(su)
			if err != nil || !ok {
				if err != nil {
					return nil
				}
				break
			}
			su = rest
			if err := e.CheckLength(); err != nil {
				f.log.Printf("rock: directory entry would overflow storage: %v", err)
				return abi.Errorf(abi.EIO, "isofs: %v", err)
			}
			if e.Sig == iso9660.SigCE {
				ce, _ = iso9660.DecodeCE(e)
				hasCE = true
				continue
			}
			stop, err := fn(e)
			if err != nil || stop {
				return err
			}
		}
		if !hasCE || ce.Block == 0 {
			return nil
		}
		// rock_continue: the area must lie within one block.
		if int64(ce.Offset) > f.bsize-iso9660.EntryHeaderSize || int64(ce.Length) > f.bsize ||
			int64(ce.Offset)+int64(ce.Length) > f.bsize {
			f.log.Printf("rock: corrupted directory entry. extent=%d, offset=%d, size=%d", ce.Block, ce.Offset, ce.Length)
			return abi.Errorf(abi.EIO, "isofs: continuation area at block %d offset %d of %d bytes crosses its block", ce.Block, ce.Offset, ce.Length)
		}
		if loops+1 >= maxCE {
			return abi.Errorf(abi.EIO, "isofs: more than %d continuation areas", maxCE)
		}
		if cap(buf) < int(ce.Length) {
			buf = make([]byte, f.bsize)
		}
		buf = buf[:ce.Length]
		if _, err := f.dev.ReadAt(buf, int64(ce.Block)<<f.shift+int64(ce.Offset)); err != nil {
			f.log.Printf("Unable to read rock-ridge attributes")
			return abi.Errorf(abi.EIO, "isofs: continuation area at block %d: %v", ce.Block, err)
		}
		su = buf
	}
}

func skip(p []byte, n int) []byte {
	if n >= len(p) {
		return nil
	}
	return p[n:]
}

// rockName returns a record's Rock Ridge name appended to dst, as
// get_rock_ridge_filename: the NM pieces joined (those flagged CURRENT or
// PARENT, or with other unknown flags, passed over; the name cut before
// it reaches 254 bytes); found is false when there is no NM (the ISO
// name is then used), relocated is true for a directory's record left in
// rr_moved (RE), which is not shown. An error is a damaged area.
func (f *fsys) rockName(dst []byte, r *iso9660.DirRecord) (name []byte, found, relocated bool, err error) {
	if f.rock == rockOff {
		return dst, false, false, nil
	}
	start := len(dst)
	truncated := false
	err = f.walkSUSP(r.SystemUse, false, func(e iso9660.Entry) (bool, error) {
		switch e.Sig {
		case iso9660.SigRR:
			if e.Data[0]&rrNM == 0 {
				return true, nil
			}
		case iso9660.SigSP:
			if _, err := iso9660.DecodeSP(e); err != nil {
				return true, nil
			}
		case iso9660.SigNM:
			nm, _ := iso9660.DecodeNM(e)
			if truncated || nm.Flags&(iso9660.NMCurrent|iso9660.NMParent) != 0 {
				break
			}
			if nm.Flags&^iso9660.NMContinue != 0 {
				f.log.Printf("Unsupported NM flag settings (%d)", nm.Flags)
				break
			}
			if len(dst)-start+len(nm.Name) >= 254 {
				truncated = true
				break
			}
			found = true
			dst = append(dst, nm.Name...)
		case iso9660.SigRE:
			relocated = true
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return dst[:start], false, false, err
	}
	return dst, found && len(dst) > start, relocated, nil
}

// The RR entry's flags (RRIP 1.09's "RR", rock.h): which entries follow.
const (
	rrPX = 1 << iota
	rrPN
	rrSL
	rrNM
	rrCL
	rrPL
	rrRE
	rrTF
)
