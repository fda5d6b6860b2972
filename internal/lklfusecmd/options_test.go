package lklfusecmd

import (
	"slices"
	"strings"
	"testing"
)

// TestParseArgs: LKL's and FUSE's options in any order around the two
// names; -o lists split at unescaped commas, opts= keeping escaped ones.
func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"-o", `type=ext4,part=2,ro,mb=48`, "img", "-oallow_other,noatime", "mnt", "-s",
		"-o", `opts=data=journal\,noload,log=/tmp/l,attr_timeout=0.5,fsname=x\=y,max_nodes=100`, "-o", "device=b.img,device=c.img"})
	if err != nil {
		t.Fatal(err)
	}
	if o.image != "img" || o.mountpoint != "mnt" || o.fstype != "ext4" || o.part != 2 || !o.readOnly || o.mb != 48 ||
		!o.allowOther || !o.single || o.foreground || o.fsOpts != "data=journal,noload" || o.log != "/tmp/l" ||
		o.attrTimeout != 0.5 || o.entryTimeout != 1 || o.maxNodes != 100 || o.fsname != "x=y" || !slices.Equal(o.extra, []string{"noatime"}) ||
		!slices.Equal(o.devices, []string{"b.img", "c.img"}) {
		t.Errorf("parsed %+v", *o)
	}
	if o, err := parseArgs([]string{"-d", "-o", "ro,rw", "a", "b"}); err != nil || o.readOnly || !o.debug || !o.foreground {
		t.Errorf("-d -o ro,rw: %+v, %v", o, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"img"}, "need IMAGE and MOUNTPOINT"},
		{[]string{"a", "b", "c"}, "need IMAGE and MOUNTPOINT"},
		{[]string{"-o"}, "-o needs options"},
		{[]string{"-q", "a", "b"}, "unknown option -q"},
		{[]string{"-o", "mb=0", "a", "b"}, "-o mb=0: the kernel needs some memory"},
		{[]string{"-o", "part=x", "a", "b"}, "-o part=x"},
		{[]string{"-o", "type", "a", "b"}, "-o type: needs a value"},
		{[]string{"-o", "max_nodes=0", "a", "b"}, "-o max_nodes=0: the server keeps at least one node"},
	} {
		if _, err := parseArgs(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseArgs(%q): %v, want %q", c.args, err, c.want)
		}
	}
	if o, err := parseArgs([]string{"--help"}); err != nil || !o.help {
		t.Errorf("--help: %+v, %v", o, err)
	}
}
