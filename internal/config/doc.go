// Package config parses the node's configuration values: sizes with units
// and durations as the CLI and the TOML file accept them. It does no I/O
// beyond reading what it is given and starts nothing.
package config
