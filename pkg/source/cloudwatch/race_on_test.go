//go:build race

package cloudwatch_test

// raceEnabled: the race detector slows the source and cwtest about tenfold; tests use fewer events.
const raceEnabled = true
