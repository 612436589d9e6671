#!/bin/sh
# tests/criterion-missing.sh - stands in for the unit tests when configure
# did not find Criterion, so that `make check` fails (ERROR) saying why
# instead of passing without them.
echo "Criterion >= 2.4 was not found by configure (pkg-config criterion):" \
	"the unit tests were not built." >&2
echo "Install it (Debian: apt-get install libcriterion-dev) and run" \
	"configure again." >&2
exit 99
