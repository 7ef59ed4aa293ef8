//go:build race

package engine

// raceDetector: the race detector slows the engine about tenfold; internal tests do less.
const raceDetector = true
