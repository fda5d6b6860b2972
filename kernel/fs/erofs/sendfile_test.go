package erofs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Sendfile of uncompressed files (flat, inline tails, chunks with holes)
// to a host file must send the bytes the source has; a compressed file
// is refused with EOPNOTSUPP, read(2) serving it.
func TestSendfile(t *testing.T) {
	big := bigTree(t)
	for _, c := range []struct {
		name       string
		args       []string
		compressed bool
	}{
		{"plain", nil, false},
		{"chunks", []string{"--chunksize=16384"}, false},
		{"lz4", []string{"-zlz4"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := mkfsErofs(t, big, c.args...)
			// A read-only disk: a writable one's page cache could be
			// newer than the image, and its device never sends.
			kerneltest.WithDiskMount(t, img, kernel.DiskOptions{ReadOnly: true}, "erofs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
				ents, err := os.ReadDir(filepath.Join(big, "sizes"))
				if err != nil {
					t.Fatal(err)
				}
				sent, refused := int64(0), 0
				for _, e := range ents {
					want, err := os.ReadFile(filepath.Join(big, "sizes", e.Name()))
					if err != nil {
						t.Fatal(err)
					}
					fd, err := k.Openat(abi.AT_FDCWD, "/mnt/sizes/"+e.Name(), abi.O_RDONLY, 0)
					must("open", err)
					out, err := os.Create(filepath.Join(t.TempDir(), "out"))
					if err != nil {
						t.Fatal(err)
					}
					var got []byte
					for first := true; ; first = false {
						n, err := k.Sendfile(out, fd, 1<<20)
						if c.compressed && first && errors.Is(err, abi.EOPNOTSUPP) {
							// Compressed (mkfs leaves files that
							// do not shrink uncompressed).
							refused++
							out.Truncate(0)
							out.Write(want)
							break
						}
						if errors.Is(err, abi.EOPNOTSUPP) {
							// A hole: read(2) makes its zeros.
							buf := make([]byte, 4096)
							n, err := k.Read(fd, buf)
							must("read", err)
							out.Write(buf[:n])
							continue
						}
						must("sendfile", err)
						sent += n
						if n == 0 {
							break
						}
					}
					k.Close(fd)
					if got, err = os.ReadFile(out.Name()); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s: sent %d bytes differing from the %d of the source", e.Name(), len(got), len(want))
					}
					out.Close()
				}
				if sent == 0 || c.compressed != (refused > 0) {
					t.Errorf("%d bytes sent, %d compressed files refused", sent, refused)
				}
				t.Logf("%d files, %d bytes sent, %d compressed files refused", len(ents), sent, refused)
			})
		})
	}
}
