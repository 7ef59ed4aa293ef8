//go:build race

package detect

// raceDetector: the race detector slows the detector about tenfold; the long-log tests do less.
const raceDetector = true
