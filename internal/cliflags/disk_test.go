package cliflags

import (
	"testing"

	"github.com/urfave/cli/v2"
)

func TestPartList(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"vda1"}, "partition 1"},
		{[]string{"vda1", "vda2"}, "partitions 1 and 2"},
		{[]string{"vda1", "vda2", "vda5"}, "partitions 1, 2 and 5"},
	} {
		if got := partList("vda", tc.parts); got != tc.want {
			t.Errorf("partList(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"vda2"}, "1 partition (2)"},
		{[]string{"vda1", "vda2", "vda5"}, "3 partitions (1, 2 and 5)"},
	} {
		if got := partCount("vda", tc.parts); got != tc.want {
			t.Errorf("partCount(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}

// TestFlags parses the short and long spellings LKL's tools use.
func TestFlags(t *testing.T) {
	var d Disk
	app := &cli.App{Flags: d.Flags(), Action: func(*cli.Context) error { return nil }}
	if err := app.Run([]string{"x", "-P", "2", "-t", "ext4", "--mb", "64", "-p", "--no-journal"}); err != nil {
		t.Fatal(err)
	}
	if d != (Disk{Partition: 2, FSType: "ext4", MemoryMB: 64, Printk: true, NoJournal: true}) {
		t.Errorf("parsed %+v", d)
	}
	d = Disk{}
	if err := app.Run([]string{"x"}); err != nil {
		t.Fatal(err)
	}
	if d.MemoryMB != 32 || d.Partition != 0 || d.FSType != "" || d.NoJournal {
		t.Errorf("defaults %+v", d)
	}
	if got := d.MountData(); got != "" {
		t.Errorf("MountData() = %q without --no-journal", got)
	}
	d.NoJournal = true
	if got := d.MountData(); got != "noload" {
		t.Errorf("MountData() = %q with --no-journal, want noload", got)
	}
}
