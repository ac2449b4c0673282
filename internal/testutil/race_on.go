//go:build race

package testutil

// Race reports whether the tests run under the race detector (about ten
// times slower): load-shaped tests size themselves by it, and make test
// runs their full size once without it.
const Race = true
