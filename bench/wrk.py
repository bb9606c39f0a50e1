"""Running wrk: the Lua that counts non-2xx answers and reports percentiles, and reading its output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = "10s"  # a slow answer is measured, not dropped as a socket timeout
INSTALL = "apt-get install -y wrk   (Debian/Ubuntu; run apt-get update first if needed)"

# For every scenario: count non-2xx answers per wrk thread, then report them with the percentiles
# from done(), which runs in the main Lua state and reads each thread's globals. A script that sets
# `expected` counts every other status instead (Kibitz's posting: a 202 is a post held for a moderator).
COUNTING = r"""
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  non2xx = 0
  statuses = {}
  first_error = ""
end

function response(status, headers, body)
  local wrong = status < 200 or status > 299
  if expected then
    wrong = status ~= expected
  end
  if wrong then
    non2xx = non2xx + 1
    local code = tostring(status)
    statuses[code] = (statuses[code] or 0) + 1
    if first_error == "" then
      first_error = string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local non, codes, sample = 0, {}, ""
  for _, t in ipairs(threads) do
    non = non + t:get("non2xx")
    for code, n in pairs(t:get("statuses")) do
      codes[code] = (codes[code] or 0) + n
    end
    if sample == "" then
      sample = t:get("first_error")
    end
  end
  local e = summary.errors
  io.write(string.format("kibitz-bench requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), non))
  io.write(string.format("kibitz-bench socket_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout))
  for code, n in pairs(codes) do
    io.write(string.format("kibitz-bench status %s=%d\n", code, n))
  end
  if sample ~= "" then
    io.write("kibitz-bench first_error " .. (string.gsub(sample, "%s+", " ")) .. "\n")
  end
end
"""

# Each request a new comment (wrk thread id and counter make the text unique), from a new reader,
# spread over @PAGES@ pages as readers of several stories would. Each must be published at once (201):
# a 202, held for a moderator, is counted with the non-2xx answers.
POSTING = r"""
expected = 201
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "@ORIGIN@"

function request()
  counter = counter + 1
  local body = string.format(
    '{"page":"/post/%d","text":"Benchmark comment %d-%d: *numbers* for the baseline.",' ..
    '"author":{"name":"Bench reader %d"}}',
    counter % @PAGES@, tid, counter, tid)
  return wrk.format(nil, "@PATH@", nil, body)
end
"""


class WrkError(Exception):
    """wrk is missing, failed, or printed something we cannot read."""


@dataclass(frozen=True)
class WrkRun:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int  # connect, read, write errors and timeouts: answers that never came
    statuses: dict[str, int]  # non-2xx answers by status
    first_error: str  # the start of one non-2xx body, to say what went wrong
    latency_distribution: dict[str, str]  # wrk's own --latency table


def find_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkError(f"wrk is not installed. Install it with:\n  {INSTALL}")
    return path


def lua_string(value: str) -> str:
    """A Lua string literal (a JSON string is one, for the printable text used here)."""
    return json.dumps(value)


def _set_headers(headers: Mapping[str, str] | None) -> str:
    return "".join(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}\n" for k, v in (headers or {}).items())


def reading_script(headers: Mapping[str, str] | None = None, paths: Sequence[str] = ()) -> str:
    """GET the URL given to wrk with ``headers`` on every request; with ``paths``, each request takes
    the next of them in turn instead (a mix of pages and sorts)."""
    script = COUNTING + _set_headers(headers)
    if paths:
        listed = ", ".join(lua_string(p) for p in paths)
        script += (
            f"local paths = {{{listed}}}\n"
            "function request()\n"
            "  counter = counter + 1\n"
            "  return wrk.format(nil, paths[(counter % #paths) + 1])\n"
            "end\n"
        )
    return script


def json_post_script(path: str, body: str, headers: Mapping[str, str] | None = None) -> str:
    """POST the same JSON ``body`` to ``path`` on every request (Isso's count endpoint)."""
    script = COUNTING + 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    return script + _set_headers(headers) + f"wrk.path = {lua_string(path)}\nwrk.body = {lua_string(body)}\n"


def posting_script(path: str, origin: str, pages: int) -> str:
    """POST a JSON comment to ``path`` with the right Content-Type and Origin, over ``pages`` pages."""
    post = POSTING.replace("@PATH@", path).replace("@ORIGIN@", origin).replace("@PAGES@", str(pages))
    return COUNTING + post


# Isso's POST /new?uri=...: the thread's uri in the query string, a title in the body (Isso fetches the
# page from the site to find one when a new thread comes without it), a new comment each time.
ISSO_POSTING = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "@ORIGIN@"

function request()
  counter = counter + 1
  local page = counter % @PAGES@
  local body = string.format(
    '{"text":"Benchmark comment %d-%d: *numbers* for the baseline.","author":"Bench reader %d",' ..
    '"title":"Post %d"}',
    tid, counter, tid, page)
  return wrk.format(nil, "@PATH@?uri=%2Fpost%2F" .. page, nil, body)
end
"""


def isso_posting_script(path: str, origin: str, pages: int) -> str:
    """Isso's widget posting a new comment: ``path`` is its /new endpoint, over ``pages`` pages."""
    post = ISSO_POSTING.replace("@PATH@", path).replace("@ORIGIN@", origin).replace("@PAGES@", str(pages))
    return COUNTING + post


def parse(output: str) -> WrkRun:
    """The figures of one run: wrk's summary, its --latency table and the lines our done() printed."""
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    mine = re.search(
        r"^kibitz-bench requests=(\d+) duration_us=\d+ p50_us=(\d+) p99_us=(\d+) non2xx=(\d+)$",
        output,
        re.MULTILINE,
    )
    sockets = re.search(r"^kibitz-bench socket_errors=(\d+)", output, re.MULTILINE)
    if rate is None or mine is None or sockets is None:
        raise WrkError(f"could not read wrk's output:\n{output}")
    statuses = re.findall(r"^kibitz-bench status (\d+)=(\d+)$", output, re.MULTILINE)
    sample = re.search(r"^kibitz-bench first_error (.*)$", output, re.MULTILINE)
    return WrkRun(
        requests=int(mine[1]),
        requests_per_s=float(rate[1]),
        p50_ms=int(mine[2]) / 1000,
        p99_ms=int(mine[3]) / 1000,
        non_2xx=int(mine[4]),
        socket_errors=int(sockets[1]),
        statuses={code: int(n) for code, n in statuses},
        first_error=sample[1].strip() if sample else "",
        latency_distribution=dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.MULTILINE)),
    )


def _command(wrk: str, url: str, script: Path, seconds: int, threads: int, connections: int) -> list[str]:
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={TIMEOUT}"]
    return [*command, "--latency", "-s", str(script), url]


def run(wrk: str, url: str, script: Path, *, seconds: int, threads: int, connections: int) -> WrkRun:
    """One bounded wrk run (``seconds`` long, killed if it overruns by a minute)."""
    command = _command(wrk, url, script, seconds, threads, connections)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {seconds + 60} s") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return parse(done.stdout)


class Background:
    """A wrk run in the background (the soak samples the server while it runs); ``wait`` reads it."""

    def __init__(self, wrk: str, url: str, script: Path, *, seconds: int, threads: int, connections: int):
        self.seconds = seconds
        command = _command(wrk, url, script, seconds, threads, connections)
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self) -> WrkRun:
        try:
            out, err = self.proc.communicate(timeout=self.seconds + 60)
        except subprocess.TimeoutExpired as exc:
            self.stop()
            raise WrkError(f"wrk did not finish within {self.seconds + 60} s") from exc
        if self.proc.returncode != 0:
            raise WrkError(f"wrk failed ({self.proc.returncode}): {err.strip() or out.strip()}")
        return parse(out)

    def stop(self) -> None:
        """End it early (on a failure elsewhere)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
