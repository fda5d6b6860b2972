package virtio

import "testing"

func TestLayout(t *testing.T) {
	// §2.7: 16*n, 6+2*n, 6+8*n, aligned 16/2/4.
	l, err := NewLayout(0x1001, 256)
	if err != nil {
		t.Fatal(err)
	}
	want := Layout{Size: 256, Desc: 0x1010, Avail: 0x1010 + 4096, Used: 0x1010 + 4096 + 520, End: 0x1010 + 4096 + 520 + 6 + 8*256}
	if l != want {
		t.Fatalf("layout %+v, want %+v", l, want)
	}
	if AvailSlotOff(8, 65535) != 4+2*7 || UsedSlotOff(8, 65535) != 4+8*7 || AvailSlotOff(8, 0) != 4 {
		t.Fatal("slot offsets do not wrap modulo size")
	}
	if UsedEventOff(8) != 20 || AvailEventOff(8) != 68 {
		t.Fatal("event offsets")
	}
	for _, bad := range []int{0, 3, 65536, -1, 12} {
		if CheckQueueSize(bad) == nil {
			t.Errorf("queue size %d accepted", bad)
		}
	}
	if CheckQueueSize(32768) != nil || CheckQueueSize(1) != nil {
		t.Error("valid size refused")
	}
}

func TestDescRoundTrip(t *testing.T) {
	table := make([]byte, 4*DescSize)
	d := Desc{Addr: 0x0102030405060708, Len: 0x0a0b0c0d, Flags: DescFNext | DescFWrite, Next: 3}
	PutDesc(table, 2, d)
	if got := GetDesc(table, 2); got != d {
		t.Fatalf("got %+v", got)
	}
	// Little-endian on the wire (§2.7.5).
	if table[32] != 0x08 || table[40] != 0x0d || table[44] != 3 || table[46] != 3 {
		t.Fatalf("encoding % x", table[32:48])
	}
}

func TestStatusString(t *testing.T) {
	if s := (StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusDeviceNeedsReset | 0x10).String(); s != "ACKNOWLEDGE|DRIVER|FEATURES_OK|DEVICE_NEEDS_RESET|0x10" {
		t.Fatal(s)
	}
	if Status(0).String() != "RESET" {
		t.Fatal("reset")
	}
}
