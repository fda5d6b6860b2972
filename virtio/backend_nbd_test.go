package virtio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lklimg/lklimg/format/nbd"
	"github.com/lklimg/lklimg/internal/testutil"
)

// openNBD opens uri with o, closed when the test ends.
func openNBD(t *testing.T, uri string, o NBDOptions) *NBD {
	t.Helper()
	c, err := OpenNBD(uri, o)
	if err != nil {
		t.Fatalf("OpenNBD %s: %v", uri, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sparseImage makes a raw file of size bytes with random data in some
// 64 KiB runs and holes elsewhere, and returns its path and bytes.
func sparseImage(t *testing.T, size int64, seed uint64) (string, []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	want := make([]byte, size)
	for off := int64(0); off < size; off += 1 << 16 {
		if r.IntN(3) == 0 {
			for i := off; i < off+1<<16; i++ {
				want[i] = byte(r.Uint32())
			}
		}
	}
	path := filepath.Join(t.TempDir(), "disk.raw")
	f, err := OpenRawFile(path, RawOptions{Create: true, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off := int64(0); off < size; off += 1 << 16 {
		if !allZeroBytes(want[off : off+1<<16]) {
			if err := f.WriteAt([][]byte{want[off : off+1<<16]}, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	return path, want
}

func allZeroBytes(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// splitBufs cuts b into up to four iovecs at random sector boundaries.
func splitBufs(r *rand.Rand, b []byte) [][]byte {
	var bufs [][]byte
	for len(b) > SectorSize && len(bufs) < 3 {
		k := (1 + r.IntN(len(b)/SectorSize)) * SectorSize
		if k >= len(b) {
			break
		}
		bufs = append(bufs, b[:k])
		b = b[k:]
	}
	return append(bufs, b)
}

// exercise drives a writable backend with concurrent reads and writes of
// random sector runs against a model of the disk (want, which it
// updates), then WriteZeroes, Discard and Flush (unless !flush), and
// checks every byte. It returns the number of requests made.
func exercise(t *testing.T, be Backend, want []byte, seed uint64, flush bool) int {
	t.Helper()
	size := int64(len(want))
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := make(chan error, 8)
	const workers, ops = 8, 60
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			// Each worker owns a slice of the disk, so that the
			// model stays exact with the requests in flight together.
			part := size / workers &^ (SectorSize - 1)
			base := int64(w) * part
			for range ops {
				n := int64(1+r.IntN(int(min(part, 3<<20)/SectorSize))) * SectorSize
				off := base + int64(r.IntN(int((part-n)/SectorSize+1)))*SectorSize
				buf := make([]byte, n)
				if r.IntN(2) == 0 {
					for i := range buf {
						buf[i] = byte(r.Uint32())
					}
					if err := be.WriteAt(splitBufs(r, buf), off); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					copy(want[off:], buf)
					mu.Unlock()
					continue
				}
				if err := be.ReadAt(splitBufs(r, buf), off); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ok := bytes.Equal(buf, want[off:off+n])
				mu.Unlock()
				if !ok {
					errs <- fmt.Errorf("read of %d+%d differs from what was written", off, n)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := be.WriteZeroes(1<<20, 3<<20); err != nil {
		t.Fatalf("WriteZeroes: %v", err)
	}
	clear(want[1<<20 : 4<<20])
	if err := be.Discard(6<<20, 1<<20); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Discard: %v", err)
	} else if err == nil {
		clear(want[6<<20 : 7<<20])
	}
	if err := be.Flush(); flush && err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := make([]byte, size)
	if err := be.ReadAt([][]byte{got}, 0); err != nil {
		t.Fatalf("read of the whole disk: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the disk differs from what was written at byte %d", firstDiff(got, want))
	}
	return workers*ops + 4
}

// mapHoles is qemu-img map's view of an export: the runs it reports
// neither data nor anything but zeros (NBD_STATE_HOLE|NBD_STATE_ZERO),
// as [start, end) pairs, adjacent runs merged.
func mapHoles(t *testing.T, uri string) [][2]int64 {
	t.Helper()
	out := testutil.Run(t, "qemu-img", "map", "--output=json", "-f", "raw", uri)
	var m []struct {
		Start, Length int64
		Data, Zero    bool
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("qemu-img map: %v\n%s", err, out)
	}
	var holes [][2]int64
	for _, e := range m {
		if e.Data || !e.Zero {
			continue
		}
		if n := len(holes); n > 0 && holes[n-1][1] == e.Start {
			holes[n-1][1] += e.Length
			continue
		}
		holes = append(holes, [2]int64{e.Start, e.Start + e.Length})
	}
	return holes
}

// seekHoles walks be with SeekHole and SeekData, as fs2tar walks a file.
func seekHoles(t *testing.T, be Backend) [][2]int64 {
	t.Helper()
	var holes [][2]int64
	for off := int64(0); off < be.Size(); {
		h, err := be.SeekHole(off)
		if err != nil {
			t.Fatalf("SeekHole(%d): %v", off, err)
		}
		if h >= be.Size() {
			break
		}
		d, err := be.SeekData(h)
		if err != nil {
			t.Fatalf("SeekData(%d): %v", h, err)
		}
		if d <= h {
			t.Fatalf("SeekData(%d) = %d, not past the hole SeekHole found", h, d)
		}
		holes = append(holes, [2]int64{h, d})
		off = d
	}
	return holes
}

// checkHoles compares seekHoles with qemu-img map's holes and checks
// that each reads as zeros; it returns the number of holes.
func checkHoles(t *testing.T, be Backend, uri string) int {
	t.Helper()
	got, want := seekHoles(t, be), mapHoles(t, uri)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("holes by SeekHole/SeekData:\n%v\nqemu-img map's:\n%v", got, want)
	}
	for _, h := range got {
		b := make([]byte, h[1]-h[0])
		if err := be.ReadAt([][]byte{b}, h[0]); err != nil || !allZeroBytes(b) {
			t.Fatalf("hole %v: %v, or not zeros", h, err)
		}
	}
	return len(got)
}

// TestNBDQemu: qemu-nbd serving a raw file, over a Unix socket and TCP:
// the handshake takes NBD_OPT_GO with structured replies and
// base:allocation; concurrent reads and writes of random runs (several
// iovecs each, up to 3 MiB) agree with a model, and the file holds what
// was written after Flush; the holes SeekHole and SeekData find are
// those qemu-img map reports; WriteZeroes and Discard read as zeros.
func TestNBDQemu(t *testing.T) {
	testutil.Need(t, "qemu-nbd", "qemu-img")
	for _, tcp := range []bool{false, true} {
		t.Run(fmt.Sprintf("tcp=%v", tcp), func(t *testing.T) {
			const size = 32 << 20
			path, want := sparseImage(t, size, 7)
			srv := testutil.QemuNBD(t, tcp, "disk", "-f", "raw", "--cache=writeback", path)
			c := openNBD(t, srv.URI, NBDOptions{})
			ex := c.Export()
			if c.Size() != size || c.ReadOnly() || ex.Negotiation != "NBD_OPT_GO" || !ex.Structured || !ex.HasAlloc {
				t.Fatalf("size %d, read-only %v, export %+v", c.Size(), c.ReadOnly(), ex)
			}
			holes := checkHoles(t, c, srv.URI)
			n := exercise(t, c, want, 1, true)
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(file, want) {
				t.Fatalf("the image file differs from what was written at byte %d", firstDiff(file, want))
			}
			holesAfter := checkHoles(t, c, srv.URI)
			t.Logf("%d requests agreed with the model; %d holes before, %d after, as qemu-img map", n, holes, holesAfter)
		})
	}
}

// TestNBDReadOnly: an export qemu-nbd serves read-only (-r) is a
// read-only backend: writes, zeroing and discards get ErrReadOnly, reads
// work; and a backend opened read-only refuses writes to a writable one.
func TestNBDReadOnly(t *testing.T) {
	path, want := sparseImage(t, 4<<20, 2)
	srv := testutil.QemuNBD(t, false, "", "-r", "-f", "raw", path)
	c := openNBD(t, srv.URI, NBDOptions{})
	if !c.ReadOnly() || c.Export().Flags&nbd.FlagReadOnly == 0 {
		t.Fatalf("read-only %v, flags %#x", c.ReadOnly(), c.Export().Flags)
	}
	for name, err := range map[string]error{
		"WriteAt":     c.WriteAt([][]byte{make([]byte, 512)}, 0),
		"WriteZeroes": c.WriteZeroes(0, 512),
		"Discard":     c.Discard(0, 512),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only export: %v", name, err)
		}
	}
	got := make([]byte, len(want))
	if err := c.ReadAt([][]byte{got}, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read: %v, or not the file's bytes", err)
	}
	c.Close()
	rw := testutil.Nbdkit(t, false, "memory", "size=1M")
	c = openNBD(t, rw.URI, NBDOptions{ReadOnly: true})
	if err := c.WriteAt([][]byte{make([]byte, 512)}, 0); !c.ReadOnly() || !errors.Is(err, ErrReadOnly) {
		t.Errorf("write through a read-only backend: %v", err)
	}
}

// TestNBDNbdkit: nbdkit's memory plugin, served with each negotiation a
// server may offer: fixed newstyle (NBD_OPT_GO), without structured
// replies (--no-sr: simple replies, no block status), plain newstyle
// (--mask-handshake=0: NBD_OPT_EXPORT_NAME only) and oldstyle (-o); and
// behind the blocksize-policy filter, which fails any request that
// breaks the block sizes it advertises (4 KiB minimum, 64 KiB maximum
// payload), so that requests are split, and unaligned ones widened or
// read, modified and written. Each takes the same concurrent workload.
// nbdkit 1.32 offers NBD_CMD_WRITE_ZEROES and NBD_CMD_FLUSH after
// oldstyle negotiation but refuses them (NBD_EINVAL): zeros are then
// written, and Flush fails.
func TestNBDNbdkit(t *testing.T) {
	testutil.Need(t, "nbdkit")
	for _, c := range []struct {
		name        string
		args        []string
		negotiation string
		structured  bool
		min, max    uint32
	}{
		{"go", nil, "NBD_OPT_GO", true, 0, 0},
		{"no-sr", []string{"--no-sr"}, "NBD_OPT_GO", false, 0, 0},
		{"export-name", []string{"--mask-handshake=0"}, "NBD_OPT_EXPORT_NAME", false, 0, 0},
		{"oldstyle", []string{"-o"}, "oldstyle", false, 0, 0},
		{"blocksize", []string{"--filter=blocksize-policy", "--filter=log"}, "NBD_OPT_GO", true, 4096, 65536},
	} {
		t.Run(c.name, func(t *testing.T) {
			const size = 16 << 20
			args := append(append([]string{}, c.args...), "memory", fmt.Sprint("size=", size))
			logFile := filepath.Join(t.TempDir(), "log")
			if c.max != 0 {
				args = append(args, "blocksize-minimum=4096", "blocksize-maximum=65536", "blocksize-error-policy=error",
					"logfile="+logFile)
			}
			srv := testutil.Nbdkit(t, false, args...)
			be := openNBD(t, srv.URI, NBDOptions{})
			ex := be.Export()
			if ex.Negotiation != c.negotiation || ex.Structured != c.structured || ex.MinBlock != c.min && c.min != 0 ||
				ex.MaxPayload != c.max && c.max != 0 || be.Size() != size {
				t.Fatalf("export %+v, size %d", ex, be.Size())
			}
			want := make([]byte, size)
			n := exercise(t, be, want, 3, c.name != "oldstyle")
			if c.max != 0 {
				// An unaligned write: read, modified, written back.
				b := []byte("unaligned")
				if err := be.WriteAt([][]byte{bytes.Repeat(b, 512/len(b)+1)[:512]}, 4096+512); err != nil {
					t.Fatalf("unaligned write: %v", err)
				}
				copy(want[4096+512:], bytes.Repeat(b, 512/len(b)+1)[:512])
				got := make([]byte, 3*512)
				if err := be.ReadAt([][]byte{got}, 4096); err != nil || !bytes.Equal(got, want[4096:4096+3*512]) {
					t.Fatalf("unaligned read after it: %v, or wrong bytes", err)
				}
				be.Close()
				reqs, largest := logRequests(t, logFile)
				if largest > 65536 || reqs == 0 {
					t.Fatalf("the server saw %d requests, the longest %d bytes: not split to 64 KiB", reqs, largest)
				}
				t.Logf("%d requests of ours became %d of at most %d bytes", n, reqs, largest)
				return
			}
			t.Logf("%d requests agreed with the model", n)
		})
	}
}

// logRequests reads the log filter's file: how many reads and writes the
// server saw, and the longest.
func logRequests(t *testing.T, path string) (n int, largest int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m) (Read|Write) id=\d+ offset=0x[0-9a-f]+ count=0x([0-9a-f]+)`)
	for _, m := range re.FindAllSubmatch(b, -1) {
		k, _ := strconv.ParseInt(string(m[2]), 16, 64)
		n++
		largest = max(largest, k)
	}
	return n, largest
}

// TestNBDHoles: nbdkit's data plugin (data at 1 MiB, 4 MiB and the last
// byte, the rest never written) and sparse-random plugin (random
// allocated blocks): SeekHole and SeekData find the holes qemu-img map
// reports through the same server, and they read as zeros.
func TestNBDHoles(t *testing.T) {
	testutil.Need(t, "nbdkit", "qemu-img")
	for name, args := range map[string][]string{
		"data":          {"data", "@1048576 1 2 3 @4194304 4 @8388607 5"},
		"sparse-random": {"sparse-random", "size=64M", "seed=3", "percent=20", "runlength=262144"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := testutil.Nbdkit(t, false, args...)
			c := openNBD(t, srv.URI, NBDOptions{ReadOnly: true})
			n := checkHoles(t, c, srv.URI)
			if n < 3 {
				t.Fatalf("%d holes: the export should have several", n)
			}
			t.Logf("%d holes, as qemu-img map", n)
		})
	}
}

// TestNBDErrors: nbdkit's error filter fails reads (EIO) and writes
// (ENOSPC) once a trigger file exists: the request fails with the
// server's error as the host's errno, and the connection goes on (a
// request after the trigger is removed succeeds).
func TestNBDErrors(t *testing.T) {
	trigger := filepath.Join(t.TempDir(), "fail")
	for _, c := range []struct {
		op, errno string
		want      syscall.Errno
	}{{"pread", "EIO", syscall.EIO}, {"pwrite", "ENOSPC", syscall.ENOSPC}, {"pwrite", "EPERM", syscall.EROFS}} {
		t.Run(c.op+"-"+c.errno, func(t *testing.T) {
			srv := testutil.Nbdkit(t, false, "--filter=error", "memory", "size=4M",
				"error-"+c.op+"="+c.errno, "error-"+c.op+"-rate=100%", "error-"+c.op+"-file="+trigger)
			be := openNBD(t, srv.URI, NBDOptions{})
			op := func() error {
				if c.op == "pread" {
					return be.ReadAt([][]byte{make([]byte, 8192)}, 4096)
				}
				return be.WriteAt([][]byte{make([]byte, 8192)}, 4096)
			}
			if err := op(); err != nil {
				t.Fatalf("%s before the trigger: %v", c.op, err)
			}
			os.WriteFile(trigger, nil, 0o644)
			err := op()
			var ne *nbd.Error
			if !errors.Is(err, c.want) || !errors.As(err, &ne) {
				t.Fatalf("%s with the error filter on: %v, not %v", c.op, err, c.want)
			}
			os.Remove(trigger)
			if err := op(); err != nil {
				t.Fatalf("%s after the trigger is gone: %v", c.op, err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestNBDServerFails: a server that never greets fails the open after
// the timeout; one that stops answering (the delay filter
// holding reads for a minute) fails the request after the timeout, and
// every later one at once; a server killed with reads and writes in
// flight fails them all, each with the reason, none hanging.
func TestNBDServerFails(t *testing.T) {
	t.Run("silent", func(t *testing.T) {
		// A server that takes the connection and never greets.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				defer c.Close()
				time.Sleep(10 * time.Second)
			}
		}()
		start := time.Now()
		_, err = OpenNBD("nbd://"+l.Addr().String()+"/x", NBDOptions{Timeout: 500 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "no answer in 500ms") || time.Since(start) > 5*time.Second {
			t.Fatalf("a silent server: %v, after %v", err, time.Since(start))
		}
	})
	testutil.Need(t, "nbdkit")
	t.Run("hung", func(t *testing.T) {
		srv := testutil.Nbdkit(t, false, "--filter=delay", "memory", "size=4M", "delay-read=60")
		be := openNBD(t, srv.URI, NBDOptions{Timeout: time.Second})
		start := time.Now()
		err := be.ReadAt([][]byte{make([]byte, 4096)}, 0)
		if err == nil || !strings.Contains(err.Error(), "moved no byte for 1s") || time.Since(start) > 10*time.Second {
			t.Fatalf("a read from a hung server: %v, after %v", err, time.Since(start))
		}
		if err2 := be.WriteAt([][]byte{make([]byte, 4096)}, 0); err2 == nil || !strings.Contains(err2.Error(), "moved no byte") {
			t.Fatalf("a write after the connection failed: %v", err2)
		}
		t.Logf("%v (after %v)", err, time.Since(start).Round(time.Millisecond))
	})
	t.Run("killed", func(t *testing.T) {
		srv := testutil.Nbdkit(t, false, "--filter=delay", "memory", "size=16M", "delay-read=1", "delay-write=1")
		be := openNBD(t, srv.URI, NBDOptions{})
		errs := make(chan error, 16)
		for i := range 16 {
			go func() {
				b := [][]byte{make([]byte, 1<<20)}
				if i%2 == 0 {
					errs <- be.ReadAt(b, int64(i)<<20)
				} else {
					errs <- be.WriteAt(b, int64(i)<<20)
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		srv.Kill()
		timeout := time.After(20 * time.Second)
		for range 16 {
			select {
			case err := <-errs:
				if err == nil || !strings.Contains(err.Error(), "connection") {
					t.Fatalf("a request in flight when the server died: %v", err)
				}
			case <-timeout:
				t.Fatal("requests in flight when the server died hang")
			}
		}
	})
}

// TestNBDOpenImage: OpenImage takes an NBD URI for a file name: -f raw,
// nbd or auto, read-only when asked; other formats, a size beyond the
// export and an export holding another format's image are refused.
func TestNBDOpenImage(t *testing.T) {
	path, _ := sparseImage(t, 4<<20, 5)
	srv := testutil.QemuNBD(t, false, "disk", "-f", "raw", path)
	for _, o := range []ImageOptions{{}, {Format: "auto"}, {Format: "raw"}, {Format: "nbd"}, {ReadOnly: true}, {Create: true, Size: 1 << 20}} {
		be, err := OpenImage(srv.URI, o)
		if err != nil {
			t.Fatalf("OpenImage %+v: %v", o, err)
		}
		if _, ok := be.(*NBD); !ok || be.Size() != 4<<20 || be.ReadOnly() != o.ReadOnly {
			t.Errorf("OpenImage %+v: %T, size %d, read-only %v", o, be, be.Size(), be.ReadOnly())
		}
		be.Close()
	}
	qcow2 := filepath.Join(t.TempDir(), "disk.qcow2")
	testutil.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", qcow2, "4M")
	raw := testutil.Nbdkit(t, false, "-r", "file", qcow2)
	for _, c := range []struct {
		uri  string
		o    ImageOptions
		want string
	}{
		{srv.URI, ImageOptions{Format: "vmdk"}, `image format "vmdk" over NBD`},
		{srv.URI, ImageOptions{Size: 8 << 20}, "the export has 4194304 bytes, fewer than the 8388608 asked for"},
		{raw.URI, ImageOptions{}, "the export holds a qcow2 image, not a disk"},
	} {
		if be, err := OpenImage(c.uri, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenImage %s %+v: %v, want %q", c.uri, c.o, err, c.want)
			if err == nil {
				be.Close()
			}
		}
	}
}
