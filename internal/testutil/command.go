package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildCommand builds the command in the current directory (a TestMain's
// package) as `make` builds it (CGO_ENABLED=0, -trimpath) into a new
// directory any user may enter (tests run it as nobody too), and returns
// the binary's path and the directory, which the caller removes.
func BuildCommand(name string) (bin, dir string, err error) {
	dir, err = os.MkdirTemp("", name+"-test")
	if err != nil {
		return "", "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	if bin, err = BuildInto(dir, ".", name); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	return bin, dir, nil
}

// BuildInto builds the command package pkg (a directory, "../fs2tar") as
// `make` builds it into dir/name, and returns that path: for a test that
// compares its command with another one.
func BuildInto(dir, pkg, name string) (string, error) {
	bin := filepath.Join(dir, name)
	build := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", name, err, out)
	}
	return bin, nil
}

// Result is one run of a command: its streams and exit status.
type Result struct {
	Stdout, Stderr []byte
	Code           int
}

// RunCommand runs a prepared command and returns its streams and exit
// status; a command that cannot start fails the test.
func RunCommand(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return Result{stdout.Bytes(), stderr.Bytes(), code}
}

// OnTerminal runs bin with args under script(1) (its path: script), with
// stdout and stderr on a terminal 100 columns wide, and returns what it
// printed there: how a test sees a progress bar. An arg must not hold a
// single quote.
func OnTerminal(t testing.TB, script, bin string, args ...string) string {
	t.Helper()
	cmdline := bin
	for _, a := range args {
		if strings.Contains(a, "'") {
			t.Fatalf("OnTerminal: %q holds a quote", a)
		}
		cmdline += " '" + a + "'"
	}
	cmd := exec.Command(script, "-q", "-e", "-c", cmdline, "/dev/null")
	cmd.Env = append(os.Environ(), "COLUMNS=100", "LINES=30")
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("script -c %s: %v\n%q", cmdline, err, b)
	}
	return string(b)
}
