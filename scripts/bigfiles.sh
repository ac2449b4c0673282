#!/bin/sh
# bigfiles.sh: fail on any tracked file over 1 MB (10^6 bytes) outside
# testdata/ and bench/results/ (binaries and data sets do not belong in the
# repository; an nx binary of 37.5 MB once sat at its root).
status=0
for f in $(git ls-files); do
	case "$f" in
	testdata/* | */testdata/* | bench/results/*) continue ;;
	esac
	[ -f "$f" ] || continue
	size=$(wc -c <"$f")
	if [ "$size" -gt 1000000 ]; then
		echo "tracked file over 1 MB: $f ($size bytes); keep binaries and data out of the repository" >&2
		status=1
	fi
done
exit $status
