package loki

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
)

// transportTimeout behaves like net/http's "timeout awaiting response headers" error.
type transportTimeout struct{}

func (transportTimeout) Error() string     { return "net/http: timeout awaiting response headers" }
func (transportTimeout) Timeout() bool     { return true }
func (transportTimeout) Is(err error) bool { return err == context.DeadlineExceeded }

// A middleware that wraps the transport's error hides its Timeout method from url.Error (seen in
// CI under load): the timeout must still be recognised.
func TestIsTimeoutThroughWrappers(t *testing.T) {
	wrapped := &url.Error{Op: "Get", URL: "http://loki/x", Err: fmt.Errorf("middleware: %w", transportTimeout{})}
	if wrapped.Timeout() {
		t.Fatal("the test no longer reproduces the hidden Timeout method")
	}
	if !isTimeout(wrapped) {
		t.Error("a wrapped transport timeout is not recognised")
	}
	if isTimeout(&url.Error{Op: "Get", URL: "http://loki/x", Err: errors.New("connection refused")}) {
		t.Error("a refused connection is not a timeout")
	}
}
