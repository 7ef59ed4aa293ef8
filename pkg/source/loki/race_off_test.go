//go:build !race

package loki_test

const raceEnabled = false
