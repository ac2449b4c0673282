//go:build !wasip1

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestDistributedChat(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_chat")
	outs := testutil.RunCluster(t, wasm, []testutil.Node{
		{Env: []string{"NX_USER=ana", "NX_MESSAGE=hi"}},
		{Env: []string{"NX_USER=bo", "NX_MESSAGE=hello"}},
		{Env: []string{"NX_USER=cy", "NX_MESSAGE=hey"}},
	}, "--print-rga", "room")
	var rooms []string
	for _, o := range outs {
		lines := strings.Split(strings.TrimSpace(o), "\n")
		rooms = append(rooms, lines[len(lines)-1]+"\n")
	}
	testutil.SameOutput(t, rooms, "")
	for _, m := range []string{"ana: hi", "bo: hello", "cy: hey"} {
		if !strings.Contains(rooms[0], m) {
			t.Fatalf("room %q lacks %q", rooms[0], m)
		}
	}
}
