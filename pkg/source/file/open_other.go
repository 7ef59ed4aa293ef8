//go:build !unix

package file

import "os"

// openFileNoFollow opens a resolved audit file for reading.
func openFileNoFollow(name string) (*os.File, error) {
	return os.Open(name)
}
