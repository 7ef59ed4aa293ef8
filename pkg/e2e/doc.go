// Package e2e holds the end-to-end test of the plugin: it builds the plugin binary, starts it
// the way Grafana does (hashicorp/go-plugin, gRPC, the SDK's pluginv2 protocol) and checks
// health, queries and resources against expectations computed independently in the test from
// the fixture lines in testdata/audit. It has no non-test code.
package e2e
