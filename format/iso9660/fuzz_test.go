package iso9660

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// seedImage makes a small image with xorriso (Rock Ridge, Joliet, El
// Torito, a zisofs file, a symlink, a device) for the fuzz targets'
// seeds; nil when xorriso is missing (the hand-made seeds remain).
func seedImage(f *testing.F) []byte {
	if _, err := exec.LookPath("xorriso"); err != nil {
		return nil
	}
	dir := f.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "sub", "deeper"), 0o755)
	os.WriteFile(filepath.Join(src, "text.txt"), []byte(strings.Repeat("seed text ", 10000)), 0o644)
	os.WriteFile(filepath.Join(src, "boot.img"), make([]byte, 4096), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "deeper", "A Long Name With Spaces.data"), []byte("x"), 0o600)
	os.Symlink("../text.txt", filepath.Join(src, "sub", "link"))
	img := filepath.Join(dir, "seed.iso")
	cmd := exec.Command("xorriso", "-report_about", "FATAL", "-outdev", img, "-joliet", "on", "-zisofs", "default",
		"-map", src, "/", "-find", "/text.txt", "-exec", "set_filter", "--zisofs", "--",
		"-boot_image", "any", "bin_path=/boot.img", "-boot_image", "any", "emul_type=no_emulation")
	if out, err := cmd.CombinedOutput(); err != nil {
		f.Logf("xorriso: %v\n%s", err, out)
		return nil
	}
	b, err := os.ReadFile(img)
	if err != nil {
		return nil
	}
	return b
}

// imageRecords returns the records of every directory of the image (a
// breadth-first walk of the primary and Joliet trees), raw.
func imageRecords(img []byte) (records [][]byte, zisofs []byte) {
	var dirs []DirRecord
	for s := FirstDescriptorSector; (s+1)*SectorSize <= len(img); s++ {
		p := img[s*SectorSize : (s+1)*SectorSize]
		if !IsDescriptor(p) || p[0] == TypeTerminator {
			break
		}
		if d, err := DecodeVolumeDescriptor(p); err == nil {
			dirs = append(dirs, d.Root)
		}
	}
	seen := map[uint32]bool{}
	for len(dirs) > 0 && len(records) < 200 {
		d := dirs[0]
		dirs = dirs[1:]
		if seen[d.Extent] {
			continue
		}
		seen[d.Extent] = true
		start, end := int(d.Extent)*SectorSize, int(d.Extent)*SectorSize+int(d.DataLength)
		if end > len(img) {
			continue
		}
		for off := start; off < end; {
			if img[off] == 0 {
				off = (off + SectorSize) &^ (SectorSize - 1)
				continue
			}
			r, err := DecodeDirRecord(img[off:end])
			if err != nil {
				break
			}
			records = append(records, img[off:off+int(r.Len)])
			if r.IsDir() && !r.IsDot() && !r.IsDotDot() {
				dirs = append(dirs, r)
			}
			if !r.IsDir() && int(r.Extent)*SectorSize+16 < len(img) && string(img[int(r.Extent)*SectorSize:][:8]) == string(ZisofsMagic[:]) {
				zisofs = img[int(r.Extent)*SectorSize : min(len(img), int(r.Extent)*SectorSize+int(r.DataLength))]
			}
			off += int(r.Len)
		}
	}
	return records, zisofs
}

// FuzzVolumeDescriptor decodes a sector whose first bytes are the
// input (the rest zeros: every field is in the first 900 bytes, and
// small inputs keep the fuzzer fast).
func FuzzVolumeDescriptor(f *testing.F) {
	pvd := make([]byte, 200)
	pvd[0], pvd[6] = TypePrimary, 1
	copy(pvd[1:], StandardID)
	pvd[128], pvd[129] = 0, 8
	pvd[156], pvd[156+32] = 34, 1
	f.Add(pvd)
	if img := seedImage(f); img != nil {
		for s := FirstDescriptorSector; s < FirstDescriptorSector+4; s++ {
			f.Add(img[s*SectorSize : s*SectorSize+900])
		}
	}
	sector := make([]byte, SectorSize)
	f.Fuzz(func(t *testing.T, in []byte) {
		p := sector
		clear(p)
		copy(p, in)
		if d, err := DecodeVolumeDescriptor(p); err == nil {
			d.JolietLevel()
			d.BlockShift()
			if d.Root.Len < MinDirRecordSize {
				t.Fatalf("root record of %d bytes accepted", d.Root.Len)
			}
		}
		DecodeBootRecord(p)
	})
}

func FuzzDirRecord(f *testing.F) {
	f.Add([]byte{34, 0, 18, 0, 0, 0, 0, 0, 0, 18, 0, 8, 0, 0, 0, 0, 8, 0, 124, 1, 1, 0, 0, 0, 0, 2, 0, 0, 1, 0, 0, 1, 1, 0})
	if img := seedImage(f); img != nil {
		recs, _ := imageRecords(img)
		for _, r := range recs {
			f.Add(r)
		}
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := DecodeDirRecord(p)
		if err != nil {
			return
		}
		if int(r.Len) > len(p) || DirRecordHeaderSize+len(r.Name) > int(r.Len) {
			t.Fatalf("record of %d bytes, name %d, in %d", r.Len, len(r.Name), len(p))
		}
		DecodeDate(r.Date[:])
		TranslateName(nil, r.Name)
		JolietName(nil, r.Name)
	})
}

// FuzzSUSP walks a system use area and decodes every entry this package
// knows, joining SL targets as the driver does.
func FuzzSUSP(f *testing.F) {
	f.Add([]byte("SP\x07\x01\xbe\xef\x00PX\x24\x01\xa4\x81\x00\x00\x00\x00\x81\xa4\x01\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00NM\x08\x01\x00abc"))
	if img := seedImage(f); img != nil {
		recs, _ := imageRecords(img)
		for _, raw := range recs {
			if r, err := DecodeDirRecord(raw); err == nil && len(r.SystemUse) > 0 {
				f.Add(r.SystemUse)
			}
		}
	}
	f.Fuzz(func(t *testing.T, area []byte) {
		var target []byte
		for n := 0; ; n++ {
			e, rest, ok, err := NextEntry(area)
			if err != nil || !ok {
				return
			}
			if len(rest) >= len(area) {
				t.Fatalf("entry %d did not advance", n)
			}
			area = rest
			// Every decoder on every entry: each checks the room
			// its own structure needs, whatever the signature.
			DecodeSP(e)
			DecodeCE(e)
			DecodeER(e)
			DecodePX(e)
			if pn, err := DecodePN(e); err == nil {
				pn.Device()
			}
			if sl, err := DecodeSL(e); err == nil && e.Sig == SigSL {
				target, _ = sl.AppendTarget(target, 4095)
				if len(target) > 4095+2*255 {
					t.Fatalf("target of %d bytes", len(target))
				}
			}
			DecodeNM(e)
			DecodeTF(e)
			DecodeLocation(e)
			DecodeZF(e)
			e.CheckLength()
		}
	})
}

// FuzzZisofs decodes a zisofs file: its header, then each block's
// pointers checked and its stream inflated into a block of the header's
// size (bounded as Linux bounds it).
func FuzzZisofs(f *testing.F) {
	hdr := append(ZisofsMagic[:], 0, 0, 0, 0, 4, 15, 0, 0, 24, 0, 0, 0, 24, 0, 0, 0)
	f.Add(hdr)
	if img := seedImage(f); img != nil {
		if _, z := imageRecords(img); z != nil {
			f.Add(z[:min(len(z), 4096)])
			f.Add(z)
		}
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		h, err := DecodeZisofsHeader(file)
		if err != nil || h.BlockShift < 9 || h.BlockShift > ZisofsMaxShift {
			return
		}
		var inf ZisofsInflater
		out := make([]byte, 1<<h.BlockShift)
		blocks := ZisofsBlocks(uint64(h.Size), h.BlockShift)
		for i := uint64(0); i < blocks && i < 64; i++ {
			at := ZisofsPointerOffset(h.HeaderSize, i)
			if at+8 > int64(len(file)) {
				return
			}
			start, end := le.Uint32(file[at:]), le.Uint32(file[at+4:])
			if CheckZisofsBlock(start, end, int64(len(file)), h.BlockShift) != nil {
				return
			}
			if n, err := inf.Inflate(out, file[start:end]); err == nil && n > len(out) {
				t.Fatalf("%d bytes inflated into %d", n, len(out))
			}
		}
	})
}
