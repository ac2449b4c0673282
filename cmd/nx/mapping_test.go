package main

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/numax/numax"
	"github.com/numax/numax/internal/config"
)

// TestNodeConfigDefaultsAgree: the file configuration's defaults, mapped,
// are numax.DefaultConfig: one source of defaults (internal/defaults) on
// both sides.
func TestNodeConfigDefaultsAgree(t *testing.T) {
	got, err := nodeConfig(config.Default(), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := numax.DefaultConfig()
	got.Logger, got.Stdout, got.Stderr = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mapped file defaults differ from numax.DefaultConfig:\n got  %+v\n want %+v", got, want)
	}
}

// TestNodeConfigMapsEveryKey changes each key of the file configuration in
// turn and requires the node's configuration to change with it: a key added
// to the file but not mapped fails here.
func TestNodeConfigMapsEveryKey(t *testing.T) {
	// Keys whose value must be one of a few words get a valid other word.
	words := map[string]string{
		"storage.sync": "always", "network.serialization_format": "json",
		"observability.log_level": "debug", "observability.log_format": "json", "discovery.mode": "gossip",
	}
	// Keys that do not reach numax.Config, and why.
	notMapped := map[string]string{
		"limits.seen_ops_limit": "accepted for compatibility; duplicate detection is exact",
		"limits.memory_budget":  "the process's Go memory limit, set by nx run itself (internal/membudget), not the embeddable node's",
	}
	base, err := nodeConfig(config.Default(), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	keys := 0
	def := config.Default()
	sections := reflect.ValueOf(&def).Elem()
	for i := range sections.NumField() {
		sec := sections.Type().Field(i)
		for j := range sec.Type.NumField() {
			f := sec.Type.Field(j)
			key := sec.Tag.Get("toml") + "." + f.Tag.Get("toml")
			keys++
			if why, ok := notMapped[key]; ok {
				t.Logf("%s not mapped: %s", key, why)
				continue
			}
			c := config.Default()
			v := reflect.ValueOf(&c).Elem().Field(i).Field(j)
			switch v.Kind() {
			case reflect.String:
				if w, ok := words[key]; ok {
					v.SetString(w)
				} else {
					v.SetString("127.0.0.1:4242")
				}
			case reflect.Int, reflect.Int64:
				v.SetInt(v.Int() + 7)
			case reflect.Uint64:
				v.SetUint(v.Uint() + 7)
			case reflect.Bool:
				v.SetBool(!v.Bool())
			case reflect.Slice:
				v.Set(reflect.ValueOf([]string{"127.0.0.1:4242"}))
			default:
				t.Fatalf("%s: kind %s not covered by this test", key, v.Kind())
			}
			got, err := nodeConfig(c, io.Discard, io.Discard)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if key == "observability.log_level" {
				if !got.Logger.Enabled(context.Background(), slog.LevelDebug) {
					t.Errorf("%s = debug: the node's logger does not log debug", key)
				}
				continue
			}
			if key == "observability.log_format" {
				if reflect.TypeOf(got.Logger.Handler()) == reflect.TypeOf(base.Logger.Handler()) {
					t.Errorf("%s = json: the node's logger handler did not change", key)
				}
				continue
			}
			got.Logger, got.Stdout, got.Stderr = nil, nil, nil
			b := base
			b.Logger, b.Stdout, b.Stderr = nil, nil, nil
			if reflect.DeepEqual(got, b) {
				t.Errorf("%s changed but numax.Config did not: the key is not mapped", key)
			}
		}
	}
	if keys < 40 {
		t.Fatalf("walked only %d keys", keys)
	}
}
