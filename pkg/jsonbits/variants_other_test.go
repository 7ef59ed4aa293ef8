//go:build !amd64 || purego

package jsonbits

import "testing"

func forEachVariant(*testing.T, func(string, func([]byte, []uint64, []uint64, []uint64, []uint64))) {}
