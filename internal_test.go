package numax

import (
	"testing"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/discovery"
)

// The public names stand for the internal values one to one.
func TestTypesMatchInternal(t *testing.T) {
	for _, tt := range []struct {
		pub  Type
		want crdt.Type
	}{{GCounter, crdt.TypeGCounter}, {PNCounter, crdt.TypePNCounter}, {LWWRegister, crdt.TypeLWWRegister},
		{LWWMap, crdt.TypeLWWMap}, {ORSet, crdt.TypeORSet}, {RGA, crdt.TypeRGA}, {Text, crdt.TypeText}} {
		if crdt.Type(tt.pub) != tt.want || tt.pub.String() != tt.want.String() {
			t.Errorf("%v is %d, want %d (%v)", tt.pub, tt.pub, tt.want, tt.want)
		}
	}
	for _, m := range [][2]string{{DiscoveryStatic, discovery.Static}, {DiscoveryGossip, discovery.Gossip}, {DiscoveryFile, discovery.File}} {
		if m[0] != m[1] {
			t.Errorf("discovery mode %q != %q", m[0], m[1])
		}
	}
}
