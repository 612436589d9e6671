-- tests/bench/wrk-pause.lua - the request and the report of
-- tests/bench/snapshot-pause.sh: POST a user input, then print one line
-- with the latency percentiles wrk's --latency does not show (99.9 %) and
-- the slowest request.  WR_TOKEN (required) is the local token.

local token = os.getenv("WR_TOKEN")
if token == nil or token == "" then
	error("WR_TOKEN is not set")
end

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"kind":"user","content":"' .. string.rep("p", 100) .. '"}'

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT requests=%d socket_errors=%d " ..
		"non2xx=%d p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f\n",
		summary.requests, e.connect + e.read + e.write + e.timeout,
		e.status, latency:percentile(50) / 1000,
		latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
		latency.max / 1000))
end
