package vfat_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestMsdos: the msdos type sees a volume as Linux's msdos driver does:
// 8.3 names only, shown in lower case; a name given is made 8.3
// (msdos_format_name) to be looked up or created, with no long name
// (mdir shows none); what is not an 8.3 name is refused.
func TestMsdos(t *testing.T) {
	img := mkfsFAT(t, "16M", "-F", "16")
	dir := t.TempDir()
	for _, n := range []string{"Long File Name.txt", "README.TXT"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
		mtools(t, "mcopy", "-i", img, filepath.Join(dir, n), "::/"+n)
	}
	kerneltest.WithMount(t, img, "msdos", 0, "", func(k *kernel.Kernel, must func(string, error)) {
		names := func() []string {
			ents, err := fs.ReadDir(k.FS("/mnt"), ".")
			if err != nil {
				t.Fatal(err)
			}
			var ns []string
			for _, e := range ents {
				ns = append(ns, e.Name())
			}
			slices.Sort(ns)
			return ns
		}
		if got := names(); !slices.Equal(got, []string{"longfi~1.txt", "readme.txt"}) {
			t.Errorf("readdir: %q", got)
		}
		var st abi.Stat
		for name, want := range map[string]error{
			"Long File Name.txt": abi.ENOENT, "LONGFI~1.TXT": nil, "readme.txt": nil, "ReadMe.Txt": nil, "readme.txtx": nil,
		} {
			if err := k.Fstatat(abi.AT_FDCWD, "/mnt/"+name, &st, 0); !errors.Is(err, want) && !(err == nil && want == nil) {
				t.Errorf("stat %q: %v, want %v", name, err, want)
			}
		}
		create := func(name string) error {
			fd, err := k.Openat(abi.AT_FDCWD, "/mnt/"+name, abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL, 0o644)
			if err == nil {
				k.Close(fd)
			}
			return err
		}
		must("create", create("NewLongName.data"))
		for name, want := range map[string]abi.Errno{
			"newlongnXYZ.dat2": abi.EEXIST, ".hidden": abi.EINVAL, "a*b": abi.EINVAL, "trail .txt": abi.EINVAL,
		} {
			if err := create(name); !errors.Is(err, want) {
				t.Errorf("create %q: %v, want %v", name, err, want)
			}
		}
		must("mkdir", k.Mkdirat(abi.AT_FDCWD, "/mnt/Some Directory", 0o755))
		if got := names(); !slices.Equal(got, []string{"longfi~1.txt", "newlongn.dat", "readme.txt", "some dir"}) {
			t.Errorf("readdir after: %q", got)
		}
	})
	fsckClean(t, img)
	o, err := exec.Command("mdir", "-a", "-i", img, "::").CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v\n%s", err, o)
	}
	out := string(o)
	for _, want := range []string{"NEWLONGN DAT", "SOME DIR     <DIR>"} {
		if !strings.Contains(out, want) {
			t.Errorf("mdir: no %q in\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "NEWLONGN") && strings.TrimSpace(l[strings.LastIndex(l, ":")+3:]) != "" {
			t.Errorf("mdir: a long name for the msdos file: %q", l)
		}
	}
}
