//go:build !unix

package file

var mkfifo func(path string) error
