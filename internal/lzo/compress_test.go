package lzo

import (
	"bytes"
	"math/rand"
	"testing"
)

// roundTrip compresses p and checks that Decompress gives it back.
func roundTrip(t *testing.T, p []byte) int {
	t.Helper()
	c := Compress(nil, p)
	out := make([]byte, len(p))
	n, err := Decompress(out, c)
	if err != nil {
		t.Fatalf("%d bytes: decompress: %v", len(p), err)
	}
	if !bytes.Equal(out[:n], p) {
		t.Fatalf("%d bytes: round trip differs (%d bytes back)", len(p), n)
	}
	return len(c)
}

func TestCompressRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	random := make([]byte, 200000)
	r.Read(random)
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog; "), 3000)
	// Matches of every form: near (M2), up to 16 KiB (M3), up to 48 KiB
	// (M4) back, long runs of one byte, literal runs of every length.
	far := make([]byte, 0, 200000)
	for i := 0; len(far) < 150000; i++ {
		far = append(far, random[i*97%len(random):i*97%len(random)+50]...)
		far = append(far, random[(i*31+7)%1000:(i*31+7)%1000+i%300]...)
	}
	cases := map[string][]byte{
		"empty": {}, "one": {7}, "three": {1, 2, 3}, "zeros": make([]byte, 131072),
		"random": random, "text": text, "far": far, "short-repeat": []byte("abcdabcdabcdabcd"),
	}
	for name, p := range cases {
		n := roundTrip(t, p)
		t.Logf("%s: %d -> %d", name, len(p), n)
	}
	if n := roundTrip(t, text); n > len(text)/20 {
		t.Errorf("repeated text of %d bytes compressed to %d", len(text), n)
	}
	for l := range 600 {
		p := make([]byte, l)
		r.Read(p[:l/2])
		copy(p[l/2:], p)
		roundTrip(t, p)
	}
}

func FuzzCompress(f *testing.F) {
	f.Add([]byte("hello hello hello hello"))
	f.Add(make([]byte, 5000))
	f.Add(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 5000))
	f.Fuzz(func(t *testing.T, p []byte) {
		roundTrip(t, p)
	})
}
