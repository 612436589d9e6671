#!/bin/sh
# src/ is the library and never includes or links anything of FastCGI/HTTP.
set -eu
if grep -rlE 'fcgi|FCGX_|fastcgi' "$top_srcdir/src" --include='*.[ch]'; then
	echo "src/ mentions FastCGI (files above)" >&2
	exit 1
fi
so=$(ls "$top_builddir"/src/.libs/libworker-runtime.so.* 2>/dev/null | head -n 1)
if [ -n "$so" ]; then
	if objdump -p "$so" | grep -i 'NEEDED.*fcgi'; then
		echo "libworker-runtime links libfcgi" >&2
		exit 1
	fi
	if nm -D "$so" | grep -q 'FCGX_'; then
		echo "libworker-runtime has FCGX_ symbols" >&2
		exit 1
	fi
	if nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^wr_[a-z]' | grep -v '^$'; then
		echo "libworker-runtime exports symbols outside wr_" >&2
		exit 1
	fi
fi
echo "library is free of FastCGI and exports only wr_ symbols"
