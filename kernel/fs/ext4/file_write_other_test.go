//go:build !linux

package ext4

import (
	"testing"

	"github.com/lklimg/lklimg/kernel/vfs"
)

func checkHost(t *testing.T, img, name string, m *fileModel, blocks int64, holes []int64) {}

func checkHostAttr(t *testing.T, img, name string, a vfs.SetAttr) {}
