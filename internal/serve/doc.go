// Package serve runs a service module (docs/serving.md): a pool of guest
// instances, the node's HTTP listener routing requests to on_request, the
// reserved /_nx/ routes (a Server-Sent Events stream of what the guest
// publishes, and a health check), and the serialized triggers on_change,
// on_tick and on_peer.
//
// A Server owns its goroutines (the HTTP server, the trigger loop) and its
// instances; Close stops accepting, waits for in-flight handlers within its
// context, calls the module's shutdown export once, and closes every
// instance. It is idempotent.
package serve
