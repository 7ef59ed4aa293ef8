//go:build mage

// Magefile for the backend: the Grafana plugin SDK's standard build targets.
//
//	mage -v build:linux   # dist/gpx_k8saudit_linux_amd64 (name from src/plugin.json "executable")
//	mage -v               # BuildAll: every platform Grafana ships on
//	mage -l               # list all targets (build:*, test, coverage, clean, ...)
package main

import (
	// mage:import
	build "github.com/grafana/grafana-plugin-sdk-go/build"
)

// Default configures the default target.
var Default = build.BuildAll
