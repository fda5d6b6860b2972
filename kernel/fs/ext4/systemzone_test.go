package ext4

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestJournalInodeInvalid: a journal inode number beyond the inode count
// refuses the mount even with noload, as Linux's system zone setup does
// (found by the damaged-image sweep: a bit flip in s_journal_inum).
func TestJournalInodeInvalid(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "debugfs")
	img := filepath.Join(t.TempDir(), "x.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-b", "1024", "-O", "^metadata_csum", img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, out)
	}
	if out, err := exec.Command("debugfs", "-w", "-R", "ssv journal_inum 8200", img).CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	for _, opts := range []string{"", "noload"} {
		log := &testLog{}
		_, err := NewType().Mount(openDev(t, img), abi.MS_RDONLY, opts, log)
		if err == nil {
			t.Errorf("mount %q of an image whose journal inode is 8200 of 2048 succeeded", opts)
			continue
		}
		if opts == "noload" && !strings.Contains(log.String(), "failed to initialize system zone") {
			t.Errorf("mount %q: log does not say why:\n%s", opts, log)
		}
	}
}
