package replica

import (
	"encoding/binary"

	"github.com/numax/numax/internal/crdt"
)

// Store layout (key spaces of package store):
//
//	CRDT:   [type byte][key]          -> canonical object encoding
//	OpLog:  [origin 32 bytes][seq BE] -> op encoding
//	Vector: 'a' + origin              -> applied seq (uvarint)
//	        'l' + origin              -> lowest seq still in the op log
//	Meta:   "node_id", "hlc"

var (
	metaNodeID = []byte("node_id")
	metaHLC    = []byte("hlc")
)

func objStoreKey(k crdt.ObjKey) []byte {
	return append([]byte{byte(k.Type)}, k.Key...)
}

func logKey(origin string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(origin), seq)
}

func vvKey(origin string) []byte    { return append([]byte{'a'}, origin...) }
func startKey(origin string) []byte { return append([]byte{'l'}, origin...) }

func uvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }
