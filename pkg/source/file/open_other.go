//go:build !unix

package file

import "os"

// openFileNoFollow opens a resolved audit file for reading.
func openFileNoFollow(name string) (*os.File, error) {
	return os.Open(name)
}

// fileKey is empty where the platform has no inode numbers: the hash of the file's first
// bytes alone identifies it.
func fileKey(os.FileInfo) string { return "-" }

// isLoop reports whether err says a path holds a symlink loop; not told apart here.
func isLoop(error) bool { return false }
