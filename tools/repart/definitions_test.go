package repart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for s, want := range map[string]uint64{
		"0": 0, "4096": 4096, "1K": 1024, "1M 512K": 1572864, "1.5M": 1572864, "2G": 2 << 30,
		"10 M": 10 << 20, "1B": 1, "0.5K": 512, "1M512K3": 1572867,
	} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "1m", "1MB", "1KiB", "0x100", "-1", "1K 1M", "1K 2K", ".5M", "M"} {
		if got, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", s, got)
		}
	}
}

// TestRead covers the file syntax and the order of definitions: the
// facts checked against systemd-repart 252 (continuations, comments, a
// refused value keeping the previous one, masks, drop-ins, names sorted
// across directories, implied defaults).
func TestRead(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write := func(dir, name, text string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "10-esp.conf", "\ufeff[Partition]\n# a comment\nType=esp\nLabel=he\\\nllo  \\\n  world\nFormat=vfat\nFormat=\nCopyFiles=/boot/efi:/\nCopyFiles=/a\\:b:/c\nMakeDirectories=/x \"/y z\"\nX-Mine=1\n[X-Other]\nType=home\n")
	write(b, "10-esp.conf", "[Partition]\nType=home\n") // the first directory's wins
	write(b, "05-root.conf", "[Partition]\nType=root\nGrowFileSystem=no\nFlags=0x10\nWeight=010\n")
	write(a, "05-root.conf.d/size.conf", "[Partition]\nSizeMinBytes=5000\nSizeMaxBytes=5000\n")
	write(a, "20-masked.conf", "")
	write(b, "20-masked.conf", "[Partition]\nType=swap\n")
	write(b, "30-home.conf", "[Partition]\nType=home\nMakeDirectories=/srv\n")
	var warnings []string
	parts, err := Read([]string{a, b}, "amd64", func(w string) { warnings = append(warnings, w) })
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, p := range parts {
		files = append(files, p.File)
	}
	if got := strings.Join(files, " "); got != "05-root.conf 10-esp.conf 30-home.conf" {
		t.Fatalf("order: %s", got)
	}
	root, esp, home := parts[0], parts[1], parts[2]
	if typeName(root.Type) != "root-x86-64" || root.SizeMin != 4096 || root.SizeMax != 8192 || root.Weight != 8 || root.GrowFileSystem != 1 || root.Flags != 0x10 {
		t.Errorf("root: %+v", root)
	}
	if esp.Label != "he llo     world" || esp.Format != "vfat" || len(esp.CopyFiles) != 2 ||
		esp.CopyFiles[0] != (CopyFile{"/boot/efi", "/"}) || esp.CopyFiles[1] != (CopyFile{"/a:b", "/c"}) ||
		strings.Join(esp.MakeDirectories, "|") != "/x|/y z" {
		t.Errorf("esp: %+v", esp)
	}
	if home.Format != "ext4" {
		t.Errorf("home with MakeDirectories= and no Format=: %q, want ext4", home.Format)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "Format=") {
		t.Errorf("warnings: %q", warnings)
	}
	for _, c := range []struct{ text, want string }{
		{"[Partition]\nLabel=x\n", "Type= not defined"},
		{"[Partition\nType=esp\n", "invalid section header"},
		{"[Partition]\nType=nosuch\n", `unknown partition type "nosuch"`},
		{"[Partition]\nType=esp\nSizeMinBytes=\n", "is not a size"},
		{"[Partition]\nType=esp\nSizeMinBytes=2M\nSizeMaxBytes=1M\n", "SizeMinBytes= larger than SizeMaxBytes="},
		{"[Partition]\nType=esp\nCopyFiles=/a:/b:/c\n", "too many arguments"},
		{"[Partition]\nType=swap\nCopyFiles=/a\n", "a swap partition cannot hold files"},
		{"[Partition]\nType=esp\nEncrypt=key-file\n", "Encrypt= is not supported"},
	} {
		d := t.TempDir()
		write(d, "p.conf", c.text)
		if _, err := Read([]string{d}, "amd64", func(string) {}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
}

// TestHugeSizes: sizes no file can hold are refused, not wrapped around.
func TestHugeSizes(t *testing.T) {
	for _, c := range []string{"SizeMinBytes=15E\n", "PaddingMinBytes=8E\nSizeMinBytes=8E\n", "SizeMinBytes=4E\n"} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "p.conf"), []byte("[Partition]\nType=esp\n"+c), 0o644)
		parts, err := Read([]string{dir}, "amd64", func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		if l, err := Plan(NewPlanned(parts), 0, ID128{1}); err == nil {
			t.Errorf("%q: a disk of %d bytes", c, l.Size)
		}
	}
}
