package iso9660

// Dates. A directory record and RRIP's TF short form hold seven bytes
// (ECMA-119 §9.1.5): years since 1900, month, day, hour, minute, second,
// and the offset from GMT in 15-minute steps (signed). The seventeen-byte
// form (ECMA-119 §8.4.26.1, TF's LONG_FORM) holds the date as digits,
// YYYYMMDDHHMMSScc (cc hundredths), then the offset byte. Both are local
// time, the offset saying how far ahead of GMT it is.

// DateLen and LongDateLen are the sizes of the two forms.
const (
	DateLen     = 7
	LongDateLen = 17
)

// Time is a date converted to Unix time.
type Time struct {
	Sec  int64
	Nsec int64
}

// DecodeDate converts a seven-byte date as Linux's iso_date does: the
// calendar fields through mktime64 (which takes out-of-range fields as
// they come), less the zone offset when it is within ±13 hours (52 steps;
// beyond, it is taken as garbage and the date as GMT). p must hold 7
// bytes.
func DecodeDate(p []byte) Time {
	year := int64(p[0])
	sec := mktime64(uint32(year+1900), uint32(p[1]), uint32(p[2]), uint32(p[3]), uint32(p[4]), uint32(p[5]))
	return Time{Sec: sec - zoneSeconds(int8(p[6]))}
}

// DecodeLongDate converts a seventeen-byte date as iso_date does with
// ISO_DATE_LONG_FORM: each digit as its byte less '0' (no check that it
// is a digit), hundredths to nanoseconds; a year before 1900 is time 0.
// p must hold 17 bytes.
func DecodeLongDate(p []byte) Time {
	d := func(i, n int) int64 {
		v := int64(0)
		for _, c := range p[i : i+n] {
			v = v*10 + int64(c) - '0'
		}
		return v
	}
	t := Time{Nsec: d(14, 2) * 10000000}
	year := d(0, 4) - 1900
	if year < 0 {
		return t
	}
	t.Sec = mktime64(uint32(year+1900), uint32(d(4, 2)), uint32(d(6, 2)), uint32(d(8, 2)), uint32(d(10, 2)), uint32(d(12, 2)))
	t.Sec -= zoneSeconds(int8(p[16]))
	return t
}

// zoneSeconds is the offset to take away, 0 when out of range.
func zoneSeconds(tz int8) int64 {
	if tz >= -52 && tz <= 52 {
		return int64(tz) * 15 * 60
	}
	return 0
}

// mktime64 is Linux's mktime64 (kernel/time/time.c), Gauss's formula
// with its unsigned arithmetic, so that odd fields give Linux's answer.
func mktime64(year, mon, day, hour, min, sec uint32) int64 {
	mon -= 2
	if int32(mon) <= 0 {
		mon += 12 // March first: February, with its leap day, last
		year--
	}
	days := int64(year/4-year/100+year/400+367*mon/12+day) + int64(year*365) - 719499
	return ((days*24+int64(hour))*60+int64(min))*60 + int64(sec)
}
