//go:build unix

package file

import "syscall"

var mkfifo = func(path string) error { return syscall.Mkfifo(path, 0o600) }
