package fat

import "time"

// Dates and times (fatgen §6.3): local time with no zone, a date in 16
// bits (day 1-31 in bits 0-4, month 1-12 in bits 5-8, years since 1980 in
// bits 9-15) and a time in 16 bits (seconds/2 in bits 0-4, minutes in
// 5-10, hours in 11-15), so 2-second steps from 1980-01-01 to 2107-12-31.
// The creation time adds DIR_CrtTimeTenth, 10 ms units 0-199 (Linux's
// ctime_cs). What zone the fields are in is the mounter's choice (Linux:
// the kernel's sys_tz, or tz=UTC, or time_offset=): the functions here
// take the offset in seconds east of UTC.

// MinTime and MaxTime bound what the fields hold, in UTC with a zero
// offset: 1980-01-01 00:00:00 and 2107-12-31 23:59:58.
var (
	MinTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
)

// daysBefore is the days of a non-leap year before each month, 1-12;
// months 0 and 13-15 count none, as Linux's days_in_year table has it.
var daysBefore = [16]int64{0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 0, 0, 0}

// ToUnix converts a date, a time and hundredths (cs, 0 where the field has
// none) to seconds and nanoseconds since the Unix epoch, the fields being
// offset seconds east of UTC. It is fat_time_fat2unix's arithmetic, which
// takes fields out of their ranges as they come: month 0 counts as 1 and
// 13-15 as no days, day 0 as 1, seconds, minutes and hours past their
// ends run on into the next unit.
func ToUnix(date, tm uint16, cs uint8, offset int) (sec int64, nsec int64) {
	const daysDelta = 365*10 + 2 // 1970-01-01 to 1980-01-01
	const year2100 = 120
	year := int64(date >> 9)
	month := max(1, int64(date>>5&0x0F))
	day := max(1, int64(date&0x1F)) - 1
	leapDays := (year + 3) / 4
	if year > year2100 {
		leapDays-- // 2100 is not a leap year
	}
	if year&3 == 0 && year != year2100 && month > 2 {
		leapDays++
	}
	sec = int64(tm&0x1F)*2 + int64(tm>>5&0x3F)*60 + int64(tm>>11)*3600
	sec += (year*365 + leapDays + daysBefore[month] + day + daysDelta) * 86400
	sec -= int64(offset)
	if cs > 0 {
		sec += int64(cs / 100)
		nsec = int64(cs%100) * 10_000_000
	}
	return sec, nsec
}

// FromUnix converts seconds and nanoseconds since the epoch to a date, a
// time and hundredths in a zone offset seconds east of UTC
// (fat_time_unix2fat), clamped to MinTime and MaxTime.
func FromUnix(sec, nsec int64, offset int) (date, tm uint16, cs uint8) {
	t := time.Unix(sec+int64(offset), 0).UTC()
	switch {
	case t.Before(MinTime):
		return 1<<5 | 1, 0, 0
	case t.After(MaxTime):
		return 127<<9 | 12<<5 | 31, 23<<11 | 59<<5 | 29, 199
	}
	date = uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	tm = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	cs = uint8(t.Second()&1)*100 + uint8(nsec/10_000_000)
	return date, tm, cs
}
