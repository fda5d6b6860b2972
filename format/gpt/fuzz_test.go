package gpt

import (
	"bytes"
	"testing"
)

// Fuzz targets for the decoders: none may panic or read outside its
// input, a header that decodes describes an array of bounded size, and
// what decodes encodes back to the same fields.

// seedHeader returns the primary header of an empty 128-entry table on a
// disk of sectors sectors, as sfdisk lays it out, and its array.
func seedHeader(sectors uint64, entries []Entry) ([]byte, []byte) {
	h := Header{
		Revision: Revision, HeaderSize: HeaderSize, MyLBA: 1, AlternateLBA: sectors - 1,
		FirstUsableLBA: 34, LastUsableLBA: sectors - 34, PartitionEntryLBA: 2,
		DiskGUID:                 GUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		NumberOfPartitionEntries: DefaultEntries, SizeOfPartitionEntry: EntrySize,
	}
	array := EncodeArray(&h, entries)
	h.PartitionEntryArrayCRC32 = ArrayCRC32(array[:h.ArrayBytes()])
	b := make([]byte, SectorSize)
	h.Encode(b)
	return b, array
}

func seedEntries() []Entry {
	linux, _ := ParseGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
	return []Entry{
		{PartitionTypeGUID: linux, UniquePartitionGUID: GUID{9}, StartingLBA: 2048, EndingLBA: 4095, PartitionName: "räksmörgås"},
		{PartitionTypeGUID: linux, StartingLBA: 4096, EndingLBA: 8191, Attributes: 1<<60 | AttrRequiredPartition},
	}
}

func FuzzDecodeHeader(f *testing.F) {
	h, _ := seedHeader(1<<17, nil)
	f.Add(h)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		if h.ArrayBytes() > MaxArrayBytes {
			t.Fatalf("array of %d bytes accepted", h.ArrayBytes())
		}
		out := make([]byte, SectorSize)
		h.Encode(out)
		h2, err := DecodeHeader(out)
		if err != nil || *h2 != *h {
			t.Fatalf("round trip: %+v, %v", h2, err)
		}
	})
}

func FuzzDecodeEntries(f *testing.F) {
	hb, array := seedHeader(1<<17, seedEntries())
	f.Add(hb, array)
	f.Fuzz(func(t *testing.T, hb, array []byte) {
		h, err := DecodeHeader(hb)
		if err != nil {
			return
		}
		entries, err := DecodeEntries(array, h)
		if err != nil {
			return
		}
		if len(entries) != int(h.NumberOfPartitionEntries) {
			t.Fatalf("%d entries of %d", len(entries), h.NumberOfPartitionEntries)
		}
		// Each entry encodes back to its bytes but for the name after
		// its terminator (and an invalid UTF-16 name, which decodes
		// to U+FFFD).
		for i, e := range entries {
			var b [EntrySize]byte
			e.Encode(b[:])
			in := array[i*int(h.SizeOfPartitionEntry):][:56]
			if !bytes.Equal(b[:56], in) {
				t.Fatalf("entry %d: %x, encoded %x", i, in, b[:56])
			}
		}
	})
}

func TestGUIDText(t *testing.T) {
	for _, s := range []string{"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"} {
		g, err := ParseGUID(s)
		if err != nil || g.String() != s {
			t.Errorf("%s: %s, %v", s, g, err)
		}
	}
	// The EFI System type as it lies on disk (UEFI 2.10 Appendix A).
	g, _ := ParseGUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	want := GUID{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}
	if g != want {
		t.Errorf("on disk % x, want % x", g, want)
	}
	for _, bad := range []string{"", "C12A7328F81F11D2BA4B00A0C93EC93B", "C12A7328-F81F-11D2-BA4B-00A0C93EC93G", "C12A7328-F81F-11D2-BA4B+00A0C93EC93B"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestEntriesRoundTrip(t *testing.T) {
	hb, array := seedHeader(1<<17, seedEntries())
	h, err := DecodeHeader(hb)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEntries(array, h)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range seedEntries() {
		if got[i] != e {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], e)
		}
	}
	array[0] ^= 1
	if _, err := DecodeEntries(array, h); err == nil {
		t.Error("array CRC not checked")
	}
	if _, ok := EncodeName(string(make([]rune, 37))); ok {
		t.Error("37 units fit")
	}
}
