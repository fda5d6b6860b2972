package isofs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestSendfile: Kernel.Sendfile of every regular file of an image
// (Rock Ridge) sends the bytes read(2) gives, all from the device; a
// zisofs file is not sent (EOPNOTSUPP: read(2) inflates it), the stored
// files of a zisofs image are.
func TestSendfile(t *testing.T) {
	src, _ := shared.Get(t)
	for _, c := range []struct {
		name    string
		img     func() string
		allSent bool
	}{
		{"stored", func() string { return testutil.XorrisoImage(t, src, "-R") }, true},
		{"zisofs", func() string {
			return testutil.XorrisoNative(t, src, []string{"-zisofs", "default"},
				[]string{"-find", "/", "-type", "f", "-exec", "set_filter", "--zisofs", "--"})
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := c.img()
			kerneltest.WithDiskMount(t, img, kernel.DiskOptions{ReadOnly: true}, "iso9660", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
				var sent, files, unsent int64
				err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
					if err != nil || !d.Type().IsRegular() {
						return err
					}
					rel, _ := filepath.Rel(src, p)
					fd, err := k.Openat(abi.AT_FDCWD, "/mnt/"+rel, abi.O_RDONLY, 0)
					if err != nil {
						return nil // a name the image could not hold as is
					}
					defer k.Close(fd)
					want := make([]byte, 0, 1<<16)
					buf := make([]byte, 1<<16)
					for {
						n, err := k.Read(fd, buf)
						must("read", err)
						if n == 0 {
							break
						}
						want = append(want, buf[:n]...)
					}
					if _, err := k.Lseek(fd, 0, abi.SEEK_SET); err != nil {
						return err
					}
					if n, err := k.Sendfile(os.Stdout, fd, 0); n != 0 || err != nil && !errors.Is(err, abi.EOPNOTSUPP) {
						t.Errorf("%s: a send of nothing: %d %v", rel, n, err)
					}
					out, err := os.Create(filepath.Join(t.TempDir(), "out"))
					if err != nil {
						return err
					}
					defer out.Close()
					n, err := kerneltest.SendfileAll(k, fd, out)
					must("sendfile", err)
					got, _ := os.ReadFile(out.Name())
					if !bytes.Equal(got, want) {
						t.Errorf("%s: sendfile gave %d bytes differing from read's %d", rel, len(got), len(want))
					}
					sent += n
					files++
					if n < int64(len(want)) {
						unsent++
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if c.allSent != (unsent == 0) || sent == 0 || files < 100 {
					t.Errorf("%d files, %d not sent whole, %d bytes sent (want all sent: %v)", files, unsent, sent, c.allSent)
				}
				t.Logf("%d files, %d not sent whole (read instead), %d bytes sent", files, unsent, sent)
			})
		})
	}
}
