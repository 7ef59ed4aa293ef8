//go:build race

package loki_test

// raceEnabled: the race detector slows the source and lokitest about tenfold; tests use fewer events.
const raceEnabled = true
