/*
 * original_nx.h - the host imports exactly as guests built against the
 * original Numax runtime (Rust SDK nx_sdk, its C/C++/Zig examples) declare
 * them: host_log_v2 is (msg_ptr, msg_len) -> i32, pointers and lengths are
 * u32, counters and cursors u64. It is written here from the original's
 * documented signatures, not copied from its sources, and deliberately does
 * not include sdk/c/nx.h: the compatibility fixtures must link against the
 * host as an unmodified original guest does.
 */
#ifndef ORIGINAL_NX_H
#define ORIGINAL_NX_H

#include <stdint.h>

#define ORIG_IMPORT(name) __attribute__((import_module("nx"), import_name(#name))) extern

ORIG_IMPORT(host_log_v2) int32_t host_log_v2(uint32_t msg_ptr, uint32_t msg_len);
ORIG_IMPORT(host_log) void host_log(uint32_t msg_ptr, uint32_t msg_len);

ORIG_IMPORT(db_get) int32_t db_get(uint32_t key_ptr, uint32_t key_len, uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(db_set) int32_t db_set(uint32_t key_ptr, uint32_t key_len, uint32_t val_ptr, uint32_t val_len);
ORIG_IMPORT(db_delete) int32_t db_delete(uint32_t key_ptr, uint32_t key_len);
ORIG_IMPORT(db_exists) int32_t db_exists(uint32_t key_ptr, uint32_t key_len);
ORIG_IMPORT(db_scan) int32_t db_scan(uint32_t prefix_ptr, uint32_t prefix_len, uint64_t cursor, uint32_t limit,
                                     uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(db_keys_after) int32_t db_keys_after(uint32_t prefix_ptr, uint32_t prefix_len, uint32_t start_after_ptr,
                                                 uint32_t start_after_len, uint32_t limit, uint32_t out_ptr,
                                                 uint32_t out_cap);

ORIG_IMPORT(time_now) uint64_t time_now(void);
ORIG_IMPORT(random_bytes) int32_t random_bytes(uint32_t out_ptr, uint32_t len);
ORIG_IMPORT(hash_sha256) int32_t hash_sha256(uint32_t in_ptr, uint32_t in_len, uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(env_get) int32_t env_get(uint32_t key_ptr, uint32_t key_len, uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(host_capabilities) int32_t host_capabilities(uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(abort) void abort_guest(uint32_t msg_ptr, uint32_t msg_len);

ORIG_IMPORT(crdt_gcounter_inc) int32_t crdt_gcounter_inc(uint32_t key_ptr, uint32_t key_len, uint64_t delta);
ORIG_IMPORT(crdt_gcounter_value) int32_t crdt_gcounter_value(uint32_t key_ptr, uint32_t key_len, uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(crdt_pncounter_inc) int32_t crdt_pncounter_inc(uint32_t key_ptr, uint32_t key_len, uint64_t delta);
ORIG_IMPORT(crdt_pncounter_dec) int32_t crdt_pncounter_dec(uint32_t key_ptr, uint32_t key_len, uint64_t delta);
ORIG_IMPORT(crdt_pncounter_value) int32_t crdt_pncounter_value(uint32_t key_ptr, uint32_t key_len, uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(crdt_lww_set) int32_t crdt_lww_set(uint32_t key_ptr, uint32_t key_len, uint32_t val_ptr, uint32_t val_len);
ORIG_IMPORT(crdt_lww_get) int32_t crdt_lww_get(uint32_t key_ptr, uint32_t key_len, uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(crdt_lww_map_set) int32_t crdt_lww_map_set(uint32_t key_ptr, uint32_t key_len, uint32_t field_ptr,
                                                       uint32_t field_len, uint32_t val_ptr, uint32_t val_len);
ORIG_IMPORT(crdt_lww_map_remove) int32_t crdt_lww_map_remove(uint32_t key_ptr, uint32_t key_len, uint32_t field_ptr, uint32_t field_len);
ORIG_IMPORT(crdt_lww_map_get) int32_t crdt_lww_map_get(uint32_t key_ptr, uint32_t key_len, uint32_t field_ptr,
                                                       uint32_t field_len, uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(crdt_lww_map_contains) int32_t crdt_lww_map_contains(uint32_t key_ptr, uint32_t key_len, uint32_t field_ptr, uint32_t field_len);
ORIG_IMPORT(crdt_lww_map_entries) int32_t crdt_lww_map_entries(uint32_t key_ptr, uint32_t key_len, uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(crdt_orset_add) int32_t crdt_orset_add(uint32_t key_ptr, uint32_t key_len, uint32_t elem_ptr, uint32_t elem_len);
ORIG_IMPORT(crdt_orset_remove) int32_t crdt_orset_remove(uint32_t key_ptr, uint32_t key_len, uint32_t elem_ptr, uint32_t elem_len);
ORIG_IMPORT(crdt_orset_contains) int32_t crdt_orset_contains(uint32_t key_ptr, uint32_t key_len, uint32_t elem_ptr, uint32_t elem_len);
ORIG_IMPORT(crdt_orset_elements) int32_t crdt_orset_elements(uint32_t key_ptr, uint32_t key_len, uint32_t out_ptr, uint32_t out_cap);
ORIG_IMPORT(crdt_rga_insert) int32_t crdt_rga_insert(uint32_t key_ptr, uint32_t key_len, uint32_t parent_ptr,
                                                     uint32_t parent_len, uint32_t val_ptr, uint32_t val_len,
                                                     uint32_t out_id_ptr, uint32_t out_id_cap);
ORIG_IMPORT(crdt_rga_delete) int32_t crdt_rga_delete(uint32_t key_ptr, uint32_t key_len, uint32_t id_ptr, uint32_t id_len);
ORIG_IMPORT(crdt_rga_values) int32_t crdt_rga_values(uint32_t key_ptr, uint32_t key_len, uint32_t out_ptr, uint32_t out_cap);

#undef ORIG_IMPORT

#endif
