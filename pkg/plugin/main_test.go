package plugin

import (
	"fmt"
	"os"
	"testing"
)

// TestMain gives the tests' datasources a cache directory of their own (the default home of
// the column index), so that no index from an earlier run is found.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "k8saudit-plugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
