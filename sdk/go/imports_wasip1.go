//go:build wasip1

package nx

import "unsafe"

// The raw imports of module "nx", exactly as docs/host-abi.md types them:
// pointers and lengths are i32, counters and cursors i64.

//go:wasmimport nx host_log
func hostLog(p unsafe.Pointer, n uint32)

//go:wasmimport nx host_log_v2
func hostLogV2(level int32, p unsafe.Pointer, n uint32)

//go:wasmimport nx db_get
func dbGet(kp unsafe.Pointer, kn uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx db_set
func dbSet(kp unsafe.Pointer, kn uint32, vp unsafe.Pointer, vn uint32) int32

//go:wasmimport nx db_delete
func dbDelete(kp unsafe.Pointer, kn uint32) int32

//go:wasmimport nx db_exists
func dbExists(kp unsafe.Pointer, kn uint32) int32

//go:wasmimport nx db_scan
func dbScan(pp unsafe.Pointer, pn uint32, cursor uint64, limit uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx db_keys
func dbKeys(pp unsafe.Pointer, pn uint32, cursor uint64, limit uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx db_scan_after
func dbScanAfter(pp unsafe.Pointer, pn uint32, ap unsafe.Pointer, an uint32, limit uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx db_keys_after
func dbKeysAfter(pp unsafe.Pointer, pn uint32, ap unsafe.Pointer, an uint32, limit uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx time_now
func timeNow() uint64

//go:wasmimport nx time_monotonic
func timeMonotonic() uint64

//go:wasmimport nx random_bytes
func randomBytes(op unsafe.Pointer, n uint32) int32

//go:wasmimport nx hash_sha256
func hashSHA256(ip unsafe.Pointer, in uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx hash_blake3
func hashBLAKE3(ip unsafe.Pointer, in uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx env_get
func envGet(kp unsafe.Pointer, kn uint32, op unsafe.Pointer, on uint32) int32

//go:wasmimport nx module_id
func moduleID(op unsafe.Pointer, on uint32) int32

//go:wasmimport nx host_capabilities
func hostCapabilities(op unsafe.Pointer, on uint32) int32

//go:wasmimport nx event_emit
func eventEmit(np unsafe.Pointer, nn uint32, pp unsafe.Pointer, pn uint32) int32

//go:wasmimport nx abort
func abort(p unsafe.Pointer, n uint32)

//go:wasmimport nx net_node_id
func netNodeID(op unsafe.Pointer, on uint32) int32

//go:wasmimport nx net_peers
func netPeers(op unsafe.Pointer, on uint32) int32

// ptr returns the address of b's first byte (nil for an empty slice; the
// host never reads a zero-length range).
func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// sptr returns the address of s's first byte.
func sptr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }
