"""``python -m bench [--quick] [--runs N]``: every outbox figure in one run, printed and written to docs/.

The bench uses its own database (outbox_bench, recreated on the server of DATABASE_URL and migrated),
never the test database, and the broker of BROKER_URL. After each section the docs block is rewritten
with what is measured so far, so an interrupted run still leaves its figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench import env
from bench.config import Config, log, parse_args
from bench.results import Results

Section = Callable[[Config, str, Results], None]


def _baselines(config: Config, broker_url: str, results: Results) -> None:
    from bench import baselines
    from bench.stats import measured

    for run in range(config.runs):
        results.b_stream.append(measured(lambda: baselines.b_stream(broker_url, config.messages), "B_stream"))
        results.b_sync.append(measured(lambda: baselines.b_sync(broker_url, config.sync_messages), "B_sync"))
        results.b_stream_wire.append(measured(lambda: baselines.b_stream_wire(broker_url, config.messages),
                                              "B_stream, relay's message"))
        log(f"baselines run {run + 1}/{config.runs}: B_stream {results.b_stream[-1]:,.0f}, "
            f"B_sync {results.b_sync[-1]:,.0f}, B_stream with the relay's message "
            f"{results.b_stream_wire[-1]:,.0f} msg/s")


def _write(config: Config, broker_url: str, results: Results) -> None:
    from bench import write_cost

    results.write = write_cost.write_cost(config)


def _latency(config: Config, broker_url: str, results: Results) -> None:
    from bench import latency

    results.latency = latency.latency(config, broker_url)


def _relay(config: Config, broker_url: str, results: Results) -> None:
    from bench import relay_rate

    results.relay = relay_rate.sweep(config, broker_url)


def _growth(config: Config, broker_url: str, results: Results) -> None:
    from bench import relay_rate

    reuse = results.relay.runs.get(relay_rate.DEFAULT_BATCH) if results.relay else None
    results.growth = relay_rate.growth(config, broker_url, reuse)


def _scaling(config: Config, broker_url: str, results: Results) -> None:
    from bench import relay_rate

    results.scaling = relay_rate.scaling(config, broker_url)


def _inbox(config: Config, broker_url: str, results: Results) -> None:
    from bench import inbox_hooks, inbox_rate

    results.inbox_rates = inbox_rate.measure(config, broker_url)
    results.inbox = inbox_hooks.inbox_figures(results.inbox_rates)


#: Cheap sections with goals first; growth after relay (it reuses the batch-500 runs).
SECTIONS: dict[str, Section] = {"baselines": _baselines, "write": _write, "latency": _latency, "relay": _relay,
                                "growth": _growth, "scaling": _scaling, "inbox": _inbox}


def main() -> None:
    config = parse_args()
    started = time.perf_counter()
    env.setup_django(migrate=True)
    _, broker_url = env.prepare_environ()
    log(f"{config.mode} run: {config.runs} runs, {config.messages:,} messages, sections {', '.join(config.sections)}")
    results, done = Results(), []
    for name, section in SECTIONS.items():
        if name in config.sections:
            section(config, broker_url, results)
            done.append(name)
            _publish(config, results, broker_url, time.perf_counter() - started, done)
    print("\n".join(_figures_table(results)))
    print(f"\n{config.mode} run took {time.perf_counter() - started:.0f} s")


def _publish(config: Config, results: Results, broker_url: str, elapsed: float, done: list[str]) -> None:
    """Rewrite this mode's docs block and plot with everything measured so far."""
    from bench import machine, plot, report

    pending = [s for s in config.sections if s not in done]
    plot.plot(results, report.png_path(config), f"django-outbox-inbox, {config.mode} run")
    report.write(config, report.block(config, results, machine.machine(broker_url), elapsed, pending))
    log(f"wrote {report.MARKDOWN} and {report.png_path(config)}" + (f" (still to run: {pending})" if pending else ""))


def _figures_table(results: Results) -> list[str]:
    from bench.figures import table_lines

    return table_lines(results.figures())


if __name__ == "__main__":
    main()
