// Package bench holds Numax's benchmarks. Each reports its figure as a ratio
// against a baseline measured in the same run (a bare wazero host call, raw
// Pebble at the same durability, a cold compile), so the numbers mean the
// same on any machine. Run with `make bench`.
package bench
