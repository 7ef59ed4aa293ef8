package file

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// UnreadableError is returned by Scan when nothing could be read at all because every path or
// file that was tried is missing or unreadable. It unwraps to the underlying errors, so
// errors.Is(err, fs.ErrPermission) and errors.Is(err, fs.ErrNotExist) work. It is a user
// (configuration or deployment) fault, not a plugin bug.
type UnreadableError struct {
	Problems []string // one actionable sentence per failure
	Errs     []error  // the underlying errors
}

func (e *UnreadableError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("no audit file could be read (%d problems): %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// Unwrap returns the underlying errors.
func (e *UnreadableError) Unwrap() []error { return e.Errs }

const (
	permissionHint = "audit logs are usually mode 0600 owned by root in a 0700 directory; " +
		"run Grafana as a user that can read them, or have a log agent copy them to a readable place or to Loki"
	pathHint = "check the path and that kube-apiserver runs with --audit-log-path"
)

// accessMessage explains why path could not be read (verb is "read" or "list"), with a hint for
// the usual causes.
func accessMessage(verb, path string, err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("cannot %s %s: permission denied (%s)", verb, path, permissionHint)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("cannot %s %s: it does not exist (%s)", verb, path, pathHint)
	default:
		return fmt.Sprintf("cannot %s %s: %s", verb, path, errText(err))
	}
}

// errText is err's message without the "op path:" prefix of *fs.PathError, which the callers
// already say in their own words.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func noFilesMessage(path string) string {
	return fmt.Sprintf("no audit files found in %s: %s", path, pathHint)
}

// problem is one thing that went wrong. access problems (missing or unreadable path or file)
// decide whether Scan fails when nothing could be read.
type problem struct {
	msg    string
	err    error
	access bool
}

func messages(ps []problem) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.msg
	}
	return out
}
