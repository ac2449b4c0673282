// Package config is the node's configuration: the TOML file of docs/configuration.md
// (sections [storage] [network] [tls] [limits] [observability] [discovery]),
// its defaults, the NX_* environment overrides, and validation whose errors
// name the file, line and key and say what to do.
//
// It parses and checks; it opens nothing and starts nothing.
package config
