package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The Windows build under Wine (issue 19: the commands tested where they
// run): the command packages built for windows/amd64 and run by wine64
// in a prefix of their own, their output compared with the Linux
// build's. Go 1.22+ binaries import ProcessPrng from
// bcryptprimitives.dll, which Wine 8 lacks: a one-function DLL
// (testdata/wine/bcryptprimitives.c, built with mingw-w64's gcc) calling
// BCryptGenRandom stands in for it.

// Wine is a prepared Wine: a prefix with the shim, and the .exe files
// built so far.
type Wine struct {
	wine, prefix string
	mu           sync.Mutex
	exes         map[string]string // package path -> .exe
	dir          string
}

var (
	wineOnce sync.Once
	wineEnv  *Wine
	wineErr  string
)

// NeedWine returns the test process's Wine, made on first use (a new
// prefix, the shim built into its system32), skipping the test (failing
// it under CI) without wine64 and mingw-w64. Its files are removed when
// the process's TestMain calls RemoveWine.
func NeedWine(t testing.TB) *Wine {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		Skip(t, "Wine runs windows/amd64 binaries on an amd64 host; this is %s", runtime.GOARCH)
	}
	wine := "/usr/lib/wine/wine64"
	if _, err := os.Stat(wine); err != nil {
		p := Need(t, "wine64")
		wine = p[0]
	}
	gcc := Need(t, "x86_64-w64-mingw32-gcc")[0]
	wineOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lklimg-wine")
		if err != nil {
			wineErr = err.Error()
			return
		}
		w := &Wine{wine: wine, prefix: filepath.Join(dir, "prefix"), exes: map[string]string{}, dir: dir}
		_, self, _, _ := runtime.Caller(0)
		shim := filepath.Join(filepath.Dir(self), "testdata", "wine", "bcryptprimitives.c")
		dll := filepath.Join(dir, "bcryptprimitives.dll")
		if out, err := exec.Command(gcc, "-shared", "-O2", "-o", dll, shim, "-lbcrypt").CombinedOutput(); err != nil {
			wineErr = "building the ProcessPrng shim: " + err.Error() + "\n" + string(out)
			return
		}
		boot := w.Command("wineboot", "-i")
		if out, err := boot.CombinedOutput(); err != nil {
			wineErr = "wineboot -i: " + err.Error() + "\n" + string(out)
			return
		}
		data, err := os.ReadFile(dll)
		if err == nil {
			err = os.WriteFile(filepath.Join(w.prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll"), data, 0o644)
		}
		if err != nil {
			wineErr = err.Error()
			return
		}
		wineEnv = w
	})
	if wineEnv == nil {
		t.Fatalf("Wine: %s", wineErr)
	}
	return wineEnv
}

// RemoveWine stops the prefix's wineserver, waiting for it to end, then
// removes the prefix and the binaries, for TestMain. A server outliving
// its prefix (wineserver -k without WINEPREFIX stops another prefix's)
// keeps its socket under /tmp/.wine-UID, named by the prefix directory's
// inode: a later test process whose new prefix got that inode number
// found the dying server, and its wineboot failed.
func RemoveWine() {
	if wineEnv == nil {
		return
	}
	for _, arg := range []string{"-k", "-w"} {
		cmd := exec.Command("wineserver", arg)
		cmd.Env = append(os.Environ(), "WINEPREFIX="+wineEnv.prefix)
		cmd.Run()
	}
	os.RemoveAll(wineEnv.dir)
}

// Build builds the command package pkg ("github.com/lklimg/lklimg/cmd/fs2tar")
// for windows/amd64, once, and returns the .exe.
func (w *Wine) Build(t testing.TB, pkg string) string {
	t.Helper()
	return w.build(t, pkg, pkg, filepath.Base(pkg)+".exe", "build")
}

// BuildTest builds the test binary of package pkg for windows/amd64
// (go test -c), once, and returns the .exe: a package's tests of its
// Windows code, run under Wine with -test.run.
func (w *Wine) BuildTest(t testing.TB, pkg string) string {
	t.Helper()
	return w.build(t, pkg, pkg+" (test)", filepath.Base(pkg)+".test.exe", "test", "-c")
}

// RunTests runs the tests of package pkg matching pattern (-test.run)
// in its Windows build under Wine, failing t unless they all pass and
// at least want of them ran; it returns their -test.v output.
func (w *Wine) RunTests(t testing.TB, pkg, pattern string, want int) string {
	t.Helper()
	exe := w.BuildTest(t, pkg)
	out, err := w.Command(exe, "-test.run", pattern, "-test.v").CombinedOutput()
	if err != nil || strings.Count(string(out), "--- PASS") < want {
		t.Fatalf("%s tests under Wine: %v (want %d passed)\n%s", pkg, err, want, out)
	}
	return string(out)
}

// build runs go goArgs for windows on pkg, once per key, into name.
func (w *Wine) build(t testing.TB, pkg, key, name string, goArgs ...string) string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if exe, ok := w.exes[key]; ok {
		return exe
	}
	exe := filepath.Join(w.dir, name)
	cmd := exec.Command("go", append(goArgs, "-trimpath", "-o", exe, pkg)...)
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s for windows: %v\n%s", pkg, err, out)
	}
	w.exes[key] = exe
	return exe
}

// Command returns a command running exe (a Windows program, or one of
// Wine's own) with args under Wine, in the prefix, the shim preferred to
// Wine's builtin DLL, Wine's debug output off, and a UTF-8 locale: Wine
// maps Unix file names to Windows ones through the locale's character
// set, and under CI's empty environment (the C locale) a name such as
// "héllo" would reach the program mangled.
func (w *Wine) Command(exe string, args ...string) *exec.Cmd {
	cmd := exec.Command(w.wine, append([]string{exe}, args...)...)
	cmd.Env = append(os.Environ(), "WINEPREFIX="+w.prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=bcryptprimitives=n", "LC_ALL=C.UTF-8")
	return cmd
}
