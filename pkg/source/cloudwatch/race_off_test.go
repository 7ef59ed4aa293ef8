//go:build !race

package cloudwatch_test

const raceEnabled = false
