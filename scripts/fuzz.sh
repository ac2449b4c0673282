#!/usr/bin/env bash
# fuzz.sh FUZZTIME PKG... runs every fuzz target of each package for FUZZTIME.
#
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# at the end of a duration -fuzztime on a loaded machine, with no failing
# input (golang/go#75804, fixed in Go 1.27). Such a run is retried, at most
# twice. A real finding always writes a reproducer ("Failing input written
# to testdata/fuzz/..."), panics or reports an error line: that, or any
# other failure, fails at once.
set -uo pipefail
fuzztime=$1; shift
go=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

is_deadline_flake() {
	grep -q 'context deadline exceeded' "$log" &&
		! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:|fuzz_test\.go' "$log"
}

for pkg in "$@"; do
	targets=$($go test -list '^Fuzz' "$pkg" | grep '^Fuzz') || { echo "fuzz: cannot list $pkg"; exit 1; }
	for f in $targets; do
		for attempt in 1 2 3; do
			echo "fuzz $pkg $f ($fuzztime)"
			if $go test -run '^$' -fuzz "^$f\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
				break
			fi
			if [ "$attempt" -lt 3 ] && is_deadline_flake; then
				echo "fuzz $pkg $f: bare 'context deadline exceeded' at -fuzztime, no failing input (golang/go#75804); running it again"
				continue
			fi
			cat "$log"
			exit 1
		done
	done
done
