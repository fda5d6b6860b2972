package abi

import (
	"strings"
	"syscall"
	"testing"
)

// TestErrnoMessages: every errno's message is the one Linux's C library
// gives (Go's syscall package carries glibc's table there, in lower
// case), so that the commands say the same on every host.
func TestErrnoMessages(t *testing.T) {
	for e := range errnoNames {
		want := syscall.Errno(e).Error()
		want = strings.ToUpper(want[:1]) + want[1:]
		if got := e.Message(); got != want {
			t.Errorf("%v: %q, want %q", e, got, want)
		}
	}
	if got := Errno(4000).Message(); got != "Unknown error 4000" {
		t.Errorf("errno 4000: %q", got)
	}
}
