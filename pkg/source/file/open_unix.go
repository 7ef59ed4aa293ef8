//go:build unix

package file

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// openFileNoFollow opens a resolved audit file for reading. O_NOFOLLOW refuses a symlink swapped in
// after discovery; O_NONBLOCK keeps a pipe swapped in from blocking the open (Source.open then
// rejects anything that is not a regular file).
func openFileNoFollow(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// fileKey is the device and inode of a file: its identity across renames.
func fileKey(info os.FileInfo) string {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", uint64(st.Dev), uint64(st.Ino)) //nolint:unconvert // Dev is int32 on some platforms
	}
	return "?"
}

// isLoop reports whether err says a path holds too many levels of symbolic links (a loop).
func isLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
