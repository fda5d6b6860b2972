package lklimgcmd

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestPermute checks that options after operands move before them, with
// their values, as GNU getopt takes them.
func TestPermute(t *testing.T) {
	var cmds []*cli.Command
	status := 0
	for _, sc := range subcommands() {
		cmds = append(cmds, sc.command(nil, nil, &status))
	}
	cmds = append(cmds, squashfsMkfsCommand(nil, nil, nil, &status))
	for _, c := range []struct{ in, want string }{
		// mksquashfs's long names after one dash take their values.
		{"lklimg mkfs -t squashfs -comp zstd -Xcompression-level 3 -noI -d - img", "lklimg mkfs -t squashfs -comp zstd -Xcompression-level 3 -noI -d - -- img"},
		{"lklimg rm img d -r", "lklimg rm -r -- img d"},
		{"lklimg mkdir img a -pm 700 b", "lklimg mkdir -pm 700 -- img a b"},
		{"lklimg mkdir img a -m700 --mode 711 --mode=1 b", "lklimg mkdir -m 700 --mode 711 --mode=1 -- img a b"},
		{"lklimg chmod -- -w img f", "lklimg chmod -- -w img f"},
		{"lklimg chmod -w img f -P 1", "lklimg chmod -P 1 -- -w img f"},
		{"lklimg chmod img f -w", "lklimg chmod -- -w img f"},
		{"lklimg chmod u+x img -t ext4 f", "lklimg chmod -t ext4 -- u+x img f"},
		{"lklimg touch img f -d @5 -- -d", "lklimg touch -d @5 -- img f -d"},
		{"lklimg touch img -h f", "lklimg touch --no-dereference -- img f"},
		{"lklimg touch -hr link img f", "lklimg touch --no-dereference -r link -- img f"},
		{"lklimg touch -ch img f -rh", "lklimg touch --no-dereference -c -r h -- img f"},
		{"lklimg touch --help", "lklimg touch --help"},
		{"lklimg ls -l img", "lklimg ls -l -- img"},
		{"lklimg nosuch a -b", "lklimg nosuch a -b"},
		{"lklimg rm", "lklimg rm"},
	} {
		if got := strings.Join(permute(strings.Fields(c.in), cmds), " "); got != c.want {
			t.Errorf("permute(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}
