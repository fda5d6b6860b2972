package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
)

// countFree returns the count of free clusters, counting them on the FAT
// the first time (fat_count_free_clusters): FSInfo's count is a hint Linux
// trusts only with usefree. The caller holds f.mu exclusively.
func (f *fsys) countFree() (int64, error) {
	if f.freeClusters >= 0 {
		return f.freeClusters, nil
	}
	r := f.fatReader()
	var n int64
	for c := uint32(fat.FirstCluster); c < f.MaxCluster; c++ {
		v, err := r.getRaw(c)
		if err != nil {
			return 0, err
		}
		if v == fat.EntFree {
			n++
		}
	}
	f.freeClusters = n
	return n, nil
}
