package fusefs

import "time"

// SetRenameDelay sets renameDelay, for TestServeRenameRace.
func SetRenameDelay(d time.Duration) { renameDelay = d }
