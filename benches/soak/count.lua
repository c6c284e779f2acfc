-- wrk script of benches/soak.sh: one route per wrk process (METHOD, PATH
-- and BODY_BYTES from the environment); counts responses by status and
-- prints them as `status<TAB>count` lines after the run.
local method = os.getenv("METHOD") or "GET"
local path = os.getenv("ROUTE") or "/"
local body_bytes = tonumber(os.getenv("BODY_BYTES") or "0")
local body = nil
if body_bytes > 0 then
    body = string.rep("x", body_bytes)
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    counts = {}
    req = wrk.format(method, path, nil, body)
end

function request()
    return req
end

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        local c = t:get("counts")
        for status, n in pairs(c) do
            total[status] = (total[status] or 0) + n
        end
    end
    for status, n in pairs(total) do
        io.write(string.format("status\t%d\t%d\n", status, n))
    end
    local e = summary.errors
    io.write(string.format("errors\tconnect\t%d\nerrors\tread\t%d\nerrors\twrite\t%d\nerrors\ttimeout\t%d\n",
        e.connect, e.read, e.write, e.timeout))
end
