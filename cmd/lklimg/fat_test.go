//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// This host's kernel has no vfat: the toolbox on FAT volumes is compared
// with GNU tools run on the tree mcopy -s -m extracts (its modes set to
// what Linux's vfat shows by default, 0755), with mtools' and fsck.fat's
// view of the volume, and with what Linux's fs/fat does where the tree
// cannot tell (case-insensitive lookups, 8.3 aliases, ATTR_RO).

// fatVolume is a FAT volume of a test: the image, lklimg's arguments
// that name it, and mtools' extraction of it, 0755 throughout.
type fatVolume struct {
	img  testutil.FATImage
	args []string // IMAGE, or -P 1 IMAGE
	ext  string
}

func newFATVolume(t *testing.T, c testutil.FATCase) fatVolume {
	t.Helper()
	img, _ := testutil.NewFATImage(t, c)
	v := fatVolume{img: img, args: append(img.PartitionFlag(), img.Path), ext: t.TempDir()}
	testutil.Mtools(t, "mcopy", "-s", "-m", "-n", "-i", v.img.Mtools(), "::/*", v.ext)
	testutil.Run(t, "chmod", "-R", "0755", v.ext)
	return v
}

// lklimg runs lklimg CMD OPTS... IMAGE PATHS... on the volume.
func (v fatVolume) lklimg(t *testing.T, cmd string, opts []string, paths ...string) result {
	t.Helper()
	args := append(append(append([]string{cmd}, opts...), v.args...), paths...)
	return runCmd(t, exec.Command(lklimgBin, args...))
}

// gnu runs the GNU tool in the extracted tree, in the C locale and UTC,
// its name in messages turned into lklimg's.
func (v fatVolume) gnu(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = v.ext
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	r := runCmd(t, cmd)
	r.stderr = strings.ReplaceAll(r.stderr, args[0]+": ", "lklimg: ")
	return r
}

// clusterBytes and dataBytes read fsck.fat -v's summary of the volume.
func (v fatVolume) clusterBytes(t *testing.T) (cluster, data int64) {
	t.Helper()
	img := v.img.Path
	if v.img.Offset != 0 {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		img = filepath.Join(t.TempDir(), "volume")
		if err := os.WriteFile(img, b[v.img.Offset:], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := exec.Command(testutil.Need(t, "fsck.fat")[0], "-n", "-v", img).CombinedOutput()
	m := regexp.MustCompile(`(?s)(\d+) bytes per cluster.*data clusters \((\d+) bytes\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("fsck.fat -n -v:\n%s", out)
	}
	cluster, _ = strconv.ParseInt(string(m[1]), 10, 64)
	data, _ = strconv.ParseInt(string(m[2]), 10, 64)
	return cluster, data
}

// mdirFree is the free space mdir reports ("41 842 688 bytes free").
func (v fatVolume) mdirFree(t *testing.T) int64 {
	t.Helper()
	m := regexp.MustCompile(`([0-9 ]+) bytes free`).FindSubmatch(testutil.Mtools(t, "mdir", "-i", v.img.Mtools(), "::"))
	if m == nil {
		t.Fatal("mdir: no free space line")
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(string(m[1])), " ", ""), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// mdirAliases returns the 8.3 aliases of the long names in dir as mdir
// lists them ("ENTRY0~1" for "entry 00 of ...", "ENTRY0~2.EXT").
func (v fatVolume) mdirAliases(t *testing.T, dir string) map[string]string {
	t.Helper()
	line := regexp.MustCompile(`^(.{8}) (.{3}) +(<DIR>|\d+) \d{4}-\d\d-\d\d +\d+:\d\d +(.+)$`)
	aliases := map[string]string{}
	for _, l := range strings.Split(string(testutil.Mtools(t, "mdir", "-i", v.img.Mtools(), "::/"+dir)), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		short := strings.TrimSpace(m[1])
		if ext := strings.TrimSpace(m[2]); ext != "" {
			short += "." + ext
		}
		aliases[short] = m[4]
	}
	return aliases
}

// sameAs requires lklimg's run and the GNU tool's to agree in stdout,
// stderr and status, after fix (nil: none) on both stdouts.
func sameAs(t *testing.T, what string, got, want result, fix func(string) string) {
	t.Helper()
	if fix != nil {
		got.stdout, want.stdout = fix(got.stdout), fix(want.stdout)
	}
	if got.stdout != want.stdout {
		t.Errorf("%s: stdout:\n--- lklimg\n%s\n--- GNU on the extracted tree\n%s", what, got.stdout, want.stdout)
	}
	if got.stderr != want.stderr || got.code != want.code {
		t.Errorf("%s: lklimg exit %d, stderr:\n%s\nGNU: exit %d, stderr:\n%s", what, got.code, got.stderr, want.code, want.stderr)
	}
}

// dirColumns blanks what a directory's ls -l line holds that a host
// directory cannot match (links, size: Linux's vfat counts the
// subdirectories and sizes a directory by its clusters), the "total"
// lines, and the column padding those change.
func dirColumns(s string) string {
	s = regexp.MustCompile(`(?m)^total [0-9]+\n`).ReplaceAllString(s, "")
	s = regexp.MustCompile(` +`).ReplaceAllString(s, " ")
	return regexp.MustCompile(`(?m)^(d\S+) \d+ (\d+ \d+) \d+ `).ReplaceAllString(s, "$1 L $2 S ")
}

// TestFATToolboxRead: ls, cat, stat, df and info on FAT volumes.
func TestFATToolboxRead(t *testing.T) {
	testutil.Need(t, "ls", "cat", "stat")
	for _, c := range testutil.FATCases() {
		t.Run(c.Name, func(t *testing.T) {
			v := newFATVolume(t, c)
			long := []string{"-l", "--time-style=long-iso", "-n"}
			sameAs(t, "ls -R", v.lklimg(t, "ls", []string{"-R"}), v.gnu(t, "ls", "-R"), nil)
			sameAs(t, "ls -a", v.lklimg(t, "ls", []string{"-a"}, "many"), v.gnu(t, "ls", "-a", "many"), nil)
			sameAs(t, "ls -lR", v.lklimg(t, "ls", []string{"-lR"}), v.gnu(t, append(append([]string{"ls"}, long...), "-R")...), dirColumns)
			paths := []string{"README.TXT", "Ünïcödé – ☃.txt", "several-clusters.bin", "fragmented.bin", "nope", "many", "empty",
				"Nested Directory/deeper/and deepest/" + strings.Repeat("L", 250) + ".long"}
			sameAs(t, "cat", v.lklimg(t, "cat", nil, paths...), v.gnu(t, append([]string{"cat"}, paths...)...), nil)

			// Linux's vfat looks names up case-insensitively and by their
			// 8.3 aliases (vfat_find, then fat_scan for the short name).
			aliases := map[string]string{
				"readme.txt": "README.TXT", "mixedcase.TXT": "MixedCase.Txt", "MIXEDC~1.TXT": "MixedCase.Txt",
				"NESTED~1/DEEPER/AND DEEPEST/exactly13.UNI": "Nested Directory/deeper/and deepest/exactly13.uni",
			}
			for short, name := range v.mdirAliases(t, "many") {
				aliases["many/"+short] = "many/" + name
			}
			if len(aliases) != 44 {
				t.Errorf("%d aliases, want 44 (mdir of many/ lists 40)", len(aliases))
			}
			for alias, name := range aliases {
				got := v.lklimg(t, "cat", nil, alias)
				want := v.gnu(t, "cat", name)
				if got.stdout != want.stdout || got.code != want.code || got.code != 0 {
					t.Errorf("cat %s: exit %d %q, want %s's: exit %d %q", alias, got.code, got.stdout, name, want.code, want.stdout)
				}
			}

			// stat: the mode and owners the mount gives, the mtime mtools
			// shows, the cluster as the I/O block, a directory's links
			// (its subdirectories and two).
			cluster, data := v.clusterBytes(t)
			r := v.lklimg(t, "stat", nil, "README.TXT", "Nested Directory", "Nested Directory/deeper")
			st, err := os.Stat(filepath.Join(v.ext, "README.TXT"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"  File: README.TXT\n  Size: " + strconv.FormatInt(st.Size(), 10) + " ",
				"Access: (0755/-rwxr-xr-x)  Uid: (    0/    root)   Gid: (    0/    root)\n",
				"Modify: " + st.ModTime().UTC().Format("2006-01-02 15:04:05.000000000 +0000") + "\n",
				"  File: Nested Directory\n", "directory\n", "Links: 3\n", "Access: (0755/drwxr-xr-x)",
			} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stat: no %q in:\n%s", want, r.stdout)
				}
			}
			if !regexp.MustCompile(`IO Block: ` + strconv.FormatInt(cluster, 10) + ` +regular file\n`).MatchString(r.stdout) {
				t.Errorf("stat: IO Block not the cluster, %d bytes:\n%s", cluster, r.stdout)
			}
			if r.code != 0 || r.stderr != "" {
				t.Errorf("stat: exit %d, %s", r.code, r.stderr)
			}

			// df and info: the data area in clusters as fsck.fat counts
			// it, the free space mdir counts.
			free := v.mdirFree(t)
			r = v.lklimg(t, "df", nil)
			f := strings.Fields(strings.Split(r.stdout, "\n")[1])
			if want := []string{strconv.FormatInt(data, 10), strconv.FormatInt(data-free, 10), strconv.FormatInt(free, 10)}; r.code != 0 || len(f) != 6 || !slices.Equal(f[1:4], want) {
				t.Errorf("df: %q, want size, used, available %q", r.stdout, want)
			}
			r = v.lklimg(t, "info", nil)
			for _, want := range []string{
				"  Filesystem: vfat\n", "  Block size: " + strconv.FormatInt(cluster, 10) + "\n",
				"  Size:       " + strconv.FormatInt(data, 10) + " bytes", "  Free:       " + strconv.FormatInt(free, 10) + " bytes",
			} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("info: no %q in:\n%s", want, r.stdout)
				}
			}
		})
	}
}

// TestFATToolboxWrite changes FAT volumes with mkdir, rm, rmdir, mv and
// touch and the extracted tree with the GNU tools: the same messages and
// statuses, and after them mtools must extract the changed tree (times
// kept by mv, set by touch -d) and fsck.fat -n find the volume clean.
// chmod without write bits sets ATTR_RO (mattrib shows it), with them
// clears it; chown to another owner, links and xattrs are refused, as
// Linux refuses them, with exit status 1.
func TestFATToolboxWrite(t *testing.T) {
	testutil.Need(t, "mkdir", "rm", "rmdir", "mv", "touch")
	for _, c := range testutil.FATCases() {
		t.Run(c.Name, func(t *testing.T) {
			v := newFATVolume(t, c)
			for _, op := range []struct {
				cmd   string
				opts  []string
				paths []string
			}{
				{"mkdir", nil, []string{"New Directory", "README.TXT", "Ελληνικά κατάλογος"}},
				{"mkdir", []string{"-p"}, []string{"sub dir/b/c", "many/d/e"}},
				{"rm", []string{"-r"}, []string{"Nested Directory/deeper", "nope"}},
				{"rm", nil, []string{"many/entry 07 of a directory of several clusters", "many"}},
				{"rmdir", nil, []string{"Empty Dir", "sub dir/b/c", "sub dir"}},
				{"mv", nil, []string{"README.TXT", "New Directory/Read Me Now.txt"}},
				{"mv", nil, []string{"many", "Ünïcödé – ☃.txt", "New Directory"}},
				{"mv", nil, []string{"lower.txt", "NOEXT"}},
				{"touch", []string{"-d", "2011-02-03 04:05:06"}, []string{"noext2", "sub dir/new file.txt"}},
				{"touch", []string{"-d", "1999-12-31 23:59:58"}, []string{"New Directory/Read Me Now.txt"}},
			} {
				what := op.cmd + " " + strings.Join(append(slices.Clone(op.opts), op.paths...), " ")
				sameAs(t, what, v.lklimg(t, op.cmd, op.opts, op.paths...), v.gnu(t, append(append([]string{op.cmd}, op.opts...), op.paths...)...), nil)
			}

			// What FAT holds of modes and owners.
			for _, op := range []struct {
				cmd         string
				opts, paths []string
				code        int
				message     string
			}{
				{"chmod", []string{"0555"}, []string{"MixedCase.Txt", "noext2"}, 0, ""},
				{"chmod", []string{"u+w"}, []string{"noext2"}, 0, ""},
				{"chmod", []string{"0700"}, []string{"empty"}, 0, ""}, // not what FAT can show: ignored, as Linux's fat_setattr ignores it
				{"chown", []string{"5"}, []string{"empty"}, 1, "lklimg: changing ownership of 'empty': Operation not permitted"},
				{"ln", []string{"-s"}, []string{"empty", "link"}, 1, "lklimg: failed to create symbolic link 'link': Operation not permitted"},
				{"ln", nil, []string{"empty", "hard"}, 1, "lklimg: failed to create hard link 'hard' => 'empty': Operation not permitted"},
				// No xattrs: listxattr finds none, setxattr is EOPNOTSUPP (GNU's words).
				{"getfattr", nil, []string{"empty"}, 0, ""},
				{"setfattr", []string{"-n", "user.a", "-v", "1"}, []string{"empty"}, 1, "lklimg: empty: Operation not supported"},
			} {
				r := v.lklimg(t, op.cmd, op.opts, op.paths...)
				if r.code != op.code || !strings.HasPrefix(r.stderr, op.message) || (op.message == "") != (r.stderr == "") {
					t.Errorf("%s %q %q: exit %d, stderr %q; want %d, %q", op.cmd, op.opts, op.paths, r.code, r.stderr, op.code, op.message)
				}
			}
			r := v.lklimg(t, "ls", []string{"-l"}, "MixedCase.Txt", "noext2", "empty")
			for _, line := range []*regexp.Regexp{
				regexp.MustCompile(`(?m)^-r-xr-xr-x 1 0 0 +\d+ \S+ \S+ MixedCase.Txt$`),
				regexp.MustCompile(`(?m)^-rwxr-xr-x 1 0 0 +\d+ 2011-02-03 04:05 noext2$`),
				regexp.MustCompile(`(?m)^-rwxr-xr-x 1 0 0 +0 \S+ \S+ empty$`),
			} {
				if !line.MatchString(r.stdout) {
					t.Errorf("ls -l: no %s in:\n%s", line, r.stdout)
				}
			}

			testutil.FsckFATClean(t, v.img)
			flags := testutil.MattribFlags(t, v.img)
			if flags["MixedCase.Txt"] != "AR" || flags["noext2"] != "A" || flags["empty"] != "A" {
				t.Errorf("mattrib: MixedCase.Txt %q, noext2 %q, empty %q; want AR, A, A", flags["MixedCase.Txt"], flags["noext2"], flags["empty"])
			}
			want := testutil.MustScanDir(t, v.ext)
			got := testutil.MtoolsView(t, v.img)
			noTimes := testutil.FATCompare()
			noTimes.Ignore = append(noTimes.Ignore, "mtime")
			for _, d := range testutil.Compare(want, got, noTimes) {
				t.Errorf("GNU tools on the tree vs mtools after lklimg: %s", d)
			}
			// Files' times: kept by mv, set by touch -d. (Directories'
			// and the new directories' are the clock's.)
			times := testutil.FATCompare()
			times.SkipTypes = []string{testutil.TypeDir}
			for _, d := range testutil.Compare(want, got, times) {
				t.Errorf("GNU tools on the tree vs mtools after lklimg: %s", d)
			}
			if e := got["sub dir/new file.txt"]; e == nil || time.Unix(0, e.Mtime).UTC() != time.Date(2011, 2, 3, 4, 5, 6, 0, time.UTC) {
				t.Errorf("a/new file.txt: %+v, want mtime 2011-02-03 04:05:06", e)
			}
		})
	}
}
