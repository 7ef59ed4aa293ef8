//go:build race

package engine_test

// raceEnabled: the race detector slows the engine about tenfold; tests use smaller logs.
const raceEnabled = true
