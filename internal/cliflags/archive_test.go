package cliflags

import (
	"errors"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/urfave/cli/v2"
)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want archive.Time
		ok   bool
	}{
		{"@0", archive.Time{}, true},
		{"@1700000000", archive.Time{Sec: 1700000000}, true},
		{"@1700000000.25", archive.Time{Sec: 1700000000, Nsec: 250000000}, true},
		{"@-1.25", archive.Time{Sec: -2, Nsec: 750000000}, true},
		{"2023-11-14T22:13:20Z", archive.Time{Sec: 1700000000}, true},
		{"2023-11-14T23:13:20.5+01:00", archive.Time{Sec: 1700000000, Nsec: 500000000}, true},
		{"2023-11-14", archive.Time{Sec: 1699920000}, true},
		{"1700000000", archive.Time{}, false}, // GNU tar would take it as a file name
		{"@", archive.Time{}, false},
		{"@1e9", archive.Time{}, false},
		{"@1.1234567891", archive.Time{}, false},
		{"yesterday", archive.Time{}, false},
	} {
		got, err := ParseTime(tc.in)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("ParseTime(%q) = %+v, %v; want %+v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseOwner(t *testing.T) {
	for _, tc := range []struct {
		in   string
		id   uint32
		name string
		ok   bool
	}{
		{"0", 0, "", true},
		{"1000", 1000, "", true},
		{"builder:1000", 1000, "builder", true},
		{"root", 0, "", false}, // names are not looked up on the host
		{":5", 0, "", false},
		{"-1", 0, "", false},
		{"4294967295", 0, "", false}, // (uid_t)-1 means "no change" to chown
	} {
		id, name, err := ParseOwner(tc.in)
		if (err == nil) != tc.ok || tc.ok && (id != tc.id || name != tc.name) {
			t.Errorf("ParseOwner(%q) = %d %q %v", tc.in, id, name, err)
		}
	}
}

// parseRewrite runs the flags through a cli app, as a command would.
func parseRewrite(t *testing.T, args ...string) *Rewrite {
	t.Helper()
	var r Rewrite
	app := &cli.App{Flags: r.Flags(), Action: func(*cli.Context) error { return nil }}
	if err := app.Run(append([]string{"x"}, args...)); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestRewriteOptions(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "SOURCE_DATE_EPOCH" {
				return v
			}
			return ""
		}
	}
	imageNames := func() (map[uint32]string, map[uint32]string, error) {
		return map[uint32]string{0: "root", 1000: "user"}, map[uint32]string{0: "root"}, nil
	}
	noNames := func() (map[uint32]string, map[uint32]string, error) {
		t.Error("names read without --owner-names")
		return nil, nil, nil
	}

	rw, err := parseRewrite(t).Options(env(""), noNames)
	if err != nil || rw.Uid != nil || rw.Uname != nil || rw.MtimeClamp != nil || rw.NoXattrs {
		t.Errorf("defaults: %+v %v", rw, err)
	}
	rw, err = parseRewrite(t).Options(env("1700000000"), noNames)
	if err != nil || rw.MtimeClamp == nil || *rw.MtimeClamp != (archive.Time{Sec: 1700000000}) {
		t.Errorf("SOURCE_DATE_EPOCH: %+v %v", rw.MtimeClamp, err)
	}
	rw, err = parseRewrite(t, "--mtime-clamp", "@5").Options(env("1700000000"), noNames)
	if err != nil || *rw.MtimeClamp != (archive.Time{Sec: 5}) {
		t.Errorf("--mtime-clamp over SOURCE_DATE_EPOCH: %+v %v", rw.MtimeClamp, err)
	}
	if _, err = parseRewrite(t).Options(env("soon"), noNames); err == nil || !strings.Contains(err.Error(), `SOURCE_DATE_EPOCH="soon"`) {
		t.Errorf("bad SOURCE_DATE_EPOCH: %v", err)
	}
	rw, err = parseRewrite(t, "--owner-names", "--owner", "builder:42", "--group", "7",
		"--no-xattrs", "--no-acls", "--no-selinux").Options(env(""), imageNames)
	if err != nil || *rw.Uid != 42 || rw.Uname[42] != "builder" || len(rw.Uname) != 1 || *rw.Gid != 7 ||
		rw.Gname[0] != "root" || !rw.NoXattrs || !rw.NoACLs || !rw.NoSELinux {
		t.Errorf("all: %+v %v", rw, err)
	}
	failing := func() (map[uint32]string, map[uint32]string, error) { return nil, nil, errors.New("EIO") }
	if _, err = parseRewrite(t, "--owner-names").Options(env(""), failing); err == nil || !strings.Contains(err.Error(), "--owner-names: EIO") {
		t.Errorf("failing names: %v", err)
	}
	if _, err = parseRewrite(t, "--owner-names", "--numeric-owner").Options(env(""), noNames); err == nil {
		t.Error("--owner-names --numeric-owner accepted")
	}
	if _, err = parseRewrite(t, "--owner", "root").Options(env(""), noNames); err == nil || !strings.HasPrefix(err.Error(), "--owner root: ") {
		t.Errorf("--owner root: %v", err)
	}
	if f, err := parseRewrite(t).TarFormat(); f != archive.FormatPAX || err != nil {
		t.Errorf("default format %v %v", f, err)
	}
	if f, err := parseRewrite(t, "--format", "gnu").TarFormat(); f != archive.FormatGNU || err != nil {
		t.Errorf("--format gnu: %v %v", f, err)
	}
	if _, err := parseRewrite(t, "--format", "v7").TarFormat(); err == nil || !strings.HasPrefix(err.Error(), "--format: unknown tar format") {
		t.Errorf("--format v7: %v", err)
	}
}

func TestCompressionMethod(t *testing.T) {
	for _, tc := range []struct {
		c      Compression
		output string
		want   string
		ok     bool
	}{
		{Compression{}, "out.tar", "", true},
		{Compression{}, "", "", true},
		{Compression{}, "out.tar.gz", "gzip", true},
		{Compression{}, "out.tar.zst", "zstd", true},
		{Compression{}, "out.txz", "xz", true},
		{Compression{Gzip: true}, "", "gzip", true},
		{Compression{Xz: true}, "out.tar.gz", "xz", true}, // the flag wins
		{Compression{Gzip: true, Zstd: true}, "", "", false},
	} {
		got, err := tc.c.Method(tc.output)
		if (err == nil) != tc.ok || string(got) != tc.want {
			t.Errorf("%+v.Method(%q) = %q, %v", tc.c, tc.output, got, err)
		}
	}
}

// TestRepeatableFlags: both spellings, mixed, in order, commas kept.
func TestRepeatableFlags(t *testing.T) {
	var p Patterns
	app := &cli.App{Flags: RepeatableFlags("exclude", "e", "leave out", &p), Action: func(*cli.Context) error { return nil }}
	if err := app.Run([]string{"x", "-e", "a,b", "--exclude", "c", "-e", "d"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p, "|"); got != "a,b|c|d" {
		t.Errorf("values %q", got)
	}
}
