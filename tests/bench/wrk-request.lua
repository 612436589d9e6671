-- tests/bench/wrk-request.lua - the request tests/bench/http-bench.sh sends.
--
-- One request shape per wrk run, from the environment:
--   WR_TOKEN        the local token (required)
--   WR_BENCH_METHOD GET (default) or POST
--   WR_BENCH_BODY   the POST body (default: a small user input)
-- The URL (and so the path) is wrk's own argument.

local token = os.getenv("WR_TOKEN")
if token == nil or token == "" then
	error("WR_TOKEN is not set")
end

wrk.method = os.getenv("WR_BENCH_METHOD") or "GET"
wrk.headers["Authorization"] = "Bearer " .. token
if wrk.method == "POST" then
	wrk.body = os.getenv("WR_BENCH_BODY") or
		'{"kind":"user","content":"benchmark input"}'
	wrk.headers["Content-Type"] = "application/json"
end
