//go:build unix

package file

import (
	"os"
	"syscall"
)

// openFileNoFollow opens a resolved audit file for reading. O_NOFOLLOW refuses a symlink swapped in
// after discovery; O_NONBLOCK keeps a pipe swapped in from blocking the open (Source.open then
// rejects anything that is not a regular file).
func openFileNoFollow(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
