"""The report of the end-to-end benchmark: the rates over the steady window, the lines
saying how the run was made and what each check found, and the table.

Apart from the run: everything here is computed from its `Result`, once both processes
have stopped, and printed to stdout.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2e_checks import API_CHECK_SENDS
from e2e_common import Options
from e2e_measure import Sample
from e2e_processes import OUTCOMES, THROUGHPUT
from e2e_run import Result
from harness import machine
from load_client import percentile
from send import RECIPIENTS_PER_REQUEST

# A backlog that grew by more than this over the steady window: not kept up.
BACKLOG_SLACK = 2 * RECIPIENTS_PER_REQUEST


@dataclass(frozen=True)
class Figures:
    steady_seconds: float
    accepted: float  # SMS/s over the steady window
    submitted: float
    finalised: float
    drain: float  # seconds from the last accepted answer to the last final status
    p50: float
    p99: float
    worst: float


def rate(before: Sample, after: Sample, name: str) -> float:
    elapsed = after.at - before.at
    return (getattr(after, name) - getattr(before, name)) / elapsed if elapsed > 0 else 0.0


def figures(result: Result) -> Figures:
    steady, end = result.phases.steady.sample, result.phases.end.sample
    in_window = sum(1 for at in result.load.accepted_at if steady.at < at <= end.at)
    seconds = end.at - steady.at
    last_accept = result.load.accepted_at[-1] + result.wall_offset
    values = result.latency.values
    return Figures(
        seconds,
        in_window * RECIPIENTS_PER_REQUEST / seconds if seconds > 0 else 0.0,
        rate(steady, end, "submitted"),
        rate(steady, end, "finalised"),
        result.latency.last_final - last_accept,
        percentile(values, 0.50),
        percentile(values, 0.99),
        values[-1] if values else 0.0,
    )


def table(result: Result, fig: Figures) -> str:
    c = result.consistency
    mismatched = sum(c.mismatches.values()) + result.api[1]
    cells = (
        ("steady s", f"{fig.steady_seconds:.1f}"),
        ("accepted/s", f"{fig.accepted:,.0f}"),
        ("submitted/s", f"{fig.submitted:,.0f}"),
        ("finalised/s", f"{fig.finalised:,.0f}"),
        ("accept→final p50 ms", f"{fig.p50 * 1000:,.0f}"),
        ("p99 ms", f"{fig.p99 * 1000:,.0f}"),
        ("max ms", f"{fig.worst * 1000:,.0f}"),
        ("drain s", f"{fig.drain:.1f}" if not result.drain_problem else "unfinished"),
        ("server peak RSS MB", f"{result.server_rss:.0f}"),
        ("mismatches", f"{mismatched}"),
    )
    widths = [max(len(head), len(value)) for head, value in cells]
    return "\n".join(
        "   ".join(cell[row].rjust(width) for cell, width in zip(cells, widths, strict=True))
        for row in (0, 1)
    )


def report(
    options: Options,
    result: Result,
    fs_type: str,
    started: str,
    code: str,
    postgres: str | None = None,
) -> bool:
    """Print everything but the last line; whether every check passed.

    `code` is `code_version()` read before the servers started: the sources they ran;
    `postgres`, the database the server ran on when not the SQLite file.
    """
    load, c = result.load, result.consistency
    tally = load.tally
    fig = figures(result)
    steady, end = result.phases.steady, result.phases.end
    accepted = load.accepted()
    how = (
        f"requests on a fixed schedule of {options.rate:,.0f} SMS/s"
        f" (the client was at most {load.max_lateness * 1000:.0f} ms late)"
        if options.rate
        else "closed loop: each connection sends the next request as soon as its answer is in"
    )
    print(
        f"end to end: POST /v1/bulk-send → smsrelay serve (API + delivery worker) → SMPP"
        f" connector (window {options.window}, throughput {THROUGHPUT:,.0f}/s) →"
        f" smsrelay smsc (its own process, window {options.smsc_window}) → receipts →"
        f" status in {'PostgreSQL' if postgres else 'SQLite'} and through /v1/multi-status;"
        f" run {started}"
    )
    print(
        f"load: {options.duration:g} s, {how}; {options.concurrency} keep-alive connections;"
        f" requests of {RECIPIENTS_PER_REQUEST} distinct French mobiles, never repeated in the"
        f" run (seed {options.seed}), a one-part GSM text each"
    )
    if load.ran_out:
        print(
            f"load: the prebuilt bodies ran out after {load.ran_out:.1f} s: the load was"
            f" shorter than the {options.duration:g} s asked"
        )
    o = OUTCOMES
    ms = 1000 / o["time_scale"]  # milliseconds here per second of simulated network time
    print(
        f"operator: time scale {o['time_scale']:g}, reports after {o['median_delay'] * ms:g} ms"
        f" (median), at most {o['max_delay'] * ms:g} ms; {o['delivered']:.0%} DELIVRD,"
        f" {o['undelivered']:.0%} UNDELIV, {o['expired']:.0%} EXPIRED, {o['rejected']:.0%}"
        " refused at submission, none left unreported, no STOP replies"
    )
    print(machine())
    print(code)
    if postgres:
        print(
            "server: one `smsrelay serve` (one uvicorn worker, its delivery worker process),"
            f" default settings, on {postgres}, its server on these cores; everything on"
            " 127.0.0.1; cpu 'others' below includes PostgreSQL's processes"
        )
    else:
        print(
            "server: one `smsrelay serve` (one uvicorn worker, its delivery worker process),"
            " default settings (sqlite_synchronous FULL, WAL), a fresh SQLite file on"
            f" {fs_type}; everything on 127.0.0.1"
        )
    print(
        "definitions: accepted = recipients of bulk-send answers that passed every check;"
        " submitted = SMS the SMSC accepted or refused (lines of its decisions log, written"
        " as each submit_sm is decided); finalised = final statuses written in the file"
        " (status_events: Delivered or Not delivered). Rates are over the steady window:"
        f" from {options.warmup:g} s after the first send to the last accepted answer"
        f" ({fig.steady_seconds:.1f} s); latency runs from the 'accepted' event to the final"
        " one (status_events.at, REAL Unix seconds, each taken just before its transaction"
        " commits), over every finalised recipient"
    )
    whole = end.sample.at - load.started
    drain_text = (
        f"all {result.expected:,} final {fig.drain:.1f} s after the last accepted answer"
        if not result.drain_problem
        else f"stopped: {result.drain_problem}; {result.expected - result.drained.finalised:,}"
        f" of {result.expected:,} not final"
    )
    print(
        f"whole run: {accepted:,} accepted in {whole:.1f} s ({accepted / whole:,.0f}/s);"
        f" at the end of the load {end.sample.submitted:,} submitted,"
        f" {end.sample.finalised:,} final; drain: {drain_text}"
    )
    before = steady.sample.accepted - steady.sample.finalised
    after = end.sample.accepted - end.sample.finalised
    print(
        f"backlog (accepted, not yet final): at the start of the steady window {before:,},"
        f" at its end {after:,}"
        + (
            ": growing, the pipeline did not keep up with what was accepted"
            if after - before > BACKLOG_SLACK
            else ": the pipeline kept up"
        )
    )
    lat = sorted(tally.latencies)
    print(
        "checks: every answer HTTP 200, success, code 200, 500 items with code 200, the number"
        f" sent and nbSms 1: passed {tally.ok}, wrong {tally.wrong}, errors {tally.errors}"
        + (f" (first: {tally.first_problem})" if tally.first_problem else "")
        + f"; answer p50 {percentile(lat, 0.5) * 1000:.0f} ms,"
        f" p99 {percentile(lat, 0.99) * 1000:.0f} ms"
    )
    checked, api_wrong, api_first = result.api
    print(
        f"api: /v1/multi-status for {checked:,} recipients of {API_CHECK_SENDS} sends spread"
        f" over the run: {api_wrong} not as the SMSC decided"
        + (f" (first: {api_first})" if api_first else "")
    )
    wrong = sum(c.mismatches.values())
    shown = ", ".join(
        f"{fate} → {public}: {n}" for (fate, public), n in c.mismatches.most_common(4)
    )
    print(
        f"consistency: {c.recipients:,} recipients, {c.decisions:,} decisions"
        f" ({c.decided_twice} twice); carried by {c.carriers}; status not the SMSC's fate:"
        f" {wrong}" + (f" ({shown})" if shown else "") + f"; never reached the SMSC:"
        f" {c.not_decided}; decided for no recipient: {c.unknown}; final events"
        f" {c.final_events:,} for {c.final_recipients:,} final recipients"
    )
    use = steady.cpu.until(end.cpu)
    seconds = end.cpu.at - steady.cpu.at
    smsc_cores = (end.smsc_cpu - steady.smsc_cpu) / seconds
    ours = (end.cpu.ours - steady.cpu.ours) / seconds
    final_count = max(1, result.drained.finalised)
    print(
        f"cpu (steady window): server (API + worker) {use.server:.2f} cores, SMSC"
        f" {smsc_cores:.2f}, this benchmark (client, sampler) {ours:.2f}, others"
        f" {max(0.0, use.others - smsc_cores):.2f}, hypervisor {use.steal:.2f};"
        f" first send to end of drain: server {result.server_cpu / final_count * 1e3:.3f}"
        f" ms CPU per finalised SMS, SMSC {result.smsc_cpu / final_count * 1e3:.3f}"
    )
    print(
        f"memory: server peak RSS (API + delivery worker, VmHWM) {result.server_rss:.0f} MB;"
        f" SMSC {result.smsc_rss:.0f} MB"
    )
    print(
        f"targets: ≥ 3,000 SMS/s finalised, sustained: {fig.finalised:,.0f}"
        f" ({'met' if fig.finalised >= 3000 else 'NOT met'}); server RSS ≤ 300 MB:"
        f" {result.server_rss:.0f} ({'met' if result.server_rss <= 300 else 'NOT met'})"
    )
    print()
    print(table(result, fig))
    return (
        tally.ok == tally.sent
        and not tally.first_problem
        and not result.drain_problem
        and wrong == 0
        and api_wrong == 0
        and checked > 0
        and c.not_decided == 0
        and c.unknown == 0
        and c.final_recipients == c.recipients
        and c.final_events == c.final_recipients
        and c.decided_twice == 0
    )
