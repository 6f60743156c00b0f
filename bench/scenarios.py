"""The scenarios of a run against a started stack (bench/stack.py), published through the
lean publisher (bench/publisher.py) and counted at the receiver (bench/receiver.py).

A naive baseline (bench/naive.py), B hookline end to end (1 webhook), C fan-out (1 event to
FANOUT webhooks), D latency in an open loop at a steady rate, E B again with the events of a
burst (E0) left open in their window. A, B and C run twice in turn (A B C A B C) and each is
reported over both passes (bench/stats.py's `pool`). With `--fanout N,M`, F scenarios
deliver ONE event to N, then to M, webhooks of their own tenant, last (after E: a large
event that wedges the workers must not take the established scenarios with it). N, a noisy
neighbour (bench/noisy.py), comes last in every run: a tenant whose receiver hangs, and another
tenant's latency alone and beside it.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench import noisy
from bench.config import FANOUT, HOST, PROCESSES, Sizes, fanout_key, fanout_timeout
from bench.fanout_failures import settle
from bench.procs import tree_rss_mb
from bench.progress import tracked
from bench.publisher import Connection
from bench.seed import FanoutTenant
from bench.stack import Stack, server_footprint
from bench.stats import fanout_summary, open_event_footprint, pool, pool_fanout, summarize


class Bench:
    def __init__(self, stack: Stack, sizes: Sizes, say, progress=None) -> None:
        self.stack = stack
        self.sizes = sizes
        self.say = say
        self.progress = progress  # a rich Progress: one bar per scenario (bench/progress.py)
        self.rx = httpx.AsyncClient(base_url=f"http://{HOST}:{stack.rx_port}", timeout=30)
        self._idle: list[Connection] = []  # the publisher's (bench/publisher.py)

    def _new_connection(self) -> Connection:
        return Connection(HOST, self.stack.api_port, self.stack.token)

    async def aclose(self) -> None:
        for connection in self._idle:
            await connection.aclose()
        await self.rx.aclose()

    async def count(self) -> int:
        return int((await self.rx.get("/count")).text)

    def _tracked(self, label: str, total: int, base: int):
        async def since_base() -> int:
            return await self.count() - base

        return tracked(self.progress, label, total, since_base)

    async def wait(self, base: int, target: int, timeout: float) -> tuple[list[list], bool]:
        """Polls the receiver (bounded by `timeout`) until `target` records after `base`."""
        deadline = time.monotonic() + timeout
        reached = False
        while time.monotonic() < deadline:
            if await self.count() - base >= target:
                reached = True
                break
            await asyncio.sleep(0.05)
        records = (await self.rx.get("/records", params={"after": base})).json()
        return records, reached

    async def wait_distinct(self, base: int, target: int, timeout: float) -> bool:
        """Polls the receiver (bounded by `timeout`) until `target` distinct deliveries have
        arrived after record `base` (duplicates of a retried delivery do not count)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = await self.rx.get("/distinct", params={"after": base})
            if int(answer.text) >= target:
                return True
            await asyncio.sleep(0.25)
        return False

    async def publish_one(self, type_: str, i: int) -> tuple[str, float]:
        # A free keep-alive connection, or a new one: as many as publishers in flight.
        connection = self._idle.pop() if self._idle else self._new_connection()
        at = time.time()
        try:
            reply = await connection.post_json({"type": type_, "data": {"id": f"usr_{i}", "n": i}})
        except BaseException:
            await connection.aclose()
            raise
        self._idle.append(connection)
        return reply["data"]["id"], at

    async def publish(self, type_: str, n: int, concurrency: int) -> dict[str, float]:
        sent: dict[str, float] = {}
        counter = iter(range(n))

        async def lane() -> None:
            for i in counter:
                event_id, at = await self.publish_one(type_, i)
                sent[event_id] = at

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return sent

    def timeout_for(self, events: int) -> float:
        return 30 + events / 5  # bounded: any rate under 5 events/s counts as a failure

    async def closed_loop(self, name: str, type_: str, n: int, fanout: int) -> dict:
        base = await self.count()
        async with self._tracked(name, n * fanout, base):
            before = self.stack.cpu()
            sent = await self.publish(type_, n, self.sizes.concurrency)
            records, done = await self.wait(base, n * fanout, self.timeout_for(n))
            return self._result(name, sent, records, before, done, n * fanout)

    def _result(self, name, sent, records, before, done, expected, naive=False) -> dict:
        after = self.stack.cpu()
        cpu = {k: after[k] - before[k] for k in after}
        if naive:
            # The naive worker runs in this process: its CPU is the bench process's (with the
            # starter); hookline's idle worker is not part of this scenario.
            cpu["worker"] = cpu.pop("bench")
        result = summarize(name, sent, records, cpu, complete=done, expected=expected)
        if naive:
            result["cpu_s_per_event"]["api"] = None
        # For pool(); dropped from the report.
        result["_raw"] = {"sent": sent, "records": records, "cpu": cpu}
        return result

    async def warm_up(self) -> None:
        base = await self.count()
        await self.publish("user.created", 5, 5)
        _, done = await self.wait(base, 5, 60)
        if not done:
            raise RuntimeError("hookline did not deliver the warm-up events within 60 s")

    async def naive(self, name: str = "naive baseline") -> dict:
        from temporalio.client import Client
        from temporalio.worker import Worker

        from bench.naive import TASK_QUEUE, NaiveEventWorkflow, NaiveInput, NaivePoster
        from hookline.core import ids, signing

        client = await Client.connect(f"{HOST}:{self.stack.temporal_port}")
        secret = signing.new_secret()
        url = f"http://{HOST}:{self.stack.rx_port}/a"
        async with httpx.AsyncClient(timeout=15) as http:
            worker = Worker(
                client,
                task_queue=TASK_QUEUE,
                workflows=[NaiveEventWorkflow],
                activities=[NaivePoster(http).post],
            )
            async with worker:

                async def start(n: int) -> dict[str, float]:
                    sent: dict[str, float] = {}
                    counter = iter(range(n))

                    async def lane() -> None:
                        for _ in counter:
                            event_id = ids.event_id()
                            at = time.time()
                            await client.start_workflow(
                                NaiveEventWorkflow.run,
                                NaiveInput(event_id=event_id, url=url, secret=secret),
                                id=f"naive-{event_id}",
                                task_queue=TASK_QUEUE,
                            )
                            sent[event_id] = at

                    await asyncio.gather(*(lane() for _ in range(self.sizes.concurrency)))
                    return sent

                base = await self.count()
                await start(5)  # warm-up
                await self.wait(base, 5, 60)
                n = self.sizes.naive
                base = await self.count()
                async with self._tracked(name, n, base):
                    before = self.stack.cpu()
                    sent = await start(n)
                    records, done = await self.wait(base, n, self.timeout_for(n))
                    return self._result(name, sent, records, before, done, n, naive=True)

    async def latency(self) -> dict:
        rate, seconds = self.sizes.latency_rate, self.sizes.latency_seconds
        name = f"latency {rate:g}/s open loop"
        return await self.open_loop(name, int(rate * seconds), rate, self.publish_one)

    async def open_loop(self, name: str, n: int, rate: float, publish_one) -> dict:
        """`n` events on `user.created` published at `rate` a second, each on its time whatever
        the ones before it (an open loop), by `publish_one(type, i)` -> (event id, wall time);
        publish-to-receipt latency from the receiver's records."""
        base = await self.count()
        sent: dict[str, float] = {}

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            event_id, at = await publish_one("user.created", i)
            sent[event_id] = at

        async with self._tracked(name, n, base):
            before = self.stack.cpu()
            start = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(n)))
            records, done = await self.wait(base, n, self.timeout_for(n))
            return self._result(name, sent, records, before, done, n)

    def rss_now(self) -> dict[str, float | None]:
        pids = self.stack.pids()
        return {name: tree_rss_mb(pids[name]) for name in PROCESSES if name in pids}

    async def fanout(self, tenant: FanoutTenant, name: str) -> dict:
        """ONE event to `tenant.webhooks` webhooks: from its publish to its last delivery,
        the processes' RSS sampled while it runs."""
        n = tenant.webhooks
        before_rss = self.rss_now()
        peak = dict(before_rss)
        sampling = True

        async def sample() -> None:
            while sampling:
                for process, mb in self.rss_now().items():
                    if mb is not None and (peak.get(process) or 0) < mb:
                        peak[process] = mb
                await asyncio.sleep(0.25)

        connection = Connection(HOST, self.stack.api_port, tenant.token)
        base = await self.count()
        sampler = asyncio.create_task(sample())
        try:
            async with self._tracked(name, n, base):
                before = self.stack.cpu()
                at = time.time()
                reply = await connection.post_json({"type": "data.created", "data": {"n": n}})
                event_id = reply["data"]["id"]
                done = await self.wait_distinct(base, n, fanout_timeout(n))
                after = self.stack.cpu()
                records = (await self.rx.get("/records", params={"after": base})).json()
        finally:
            sampling = False
            await sampler
            await connection.aclose()
        cpu = {k: after[k] - before[k] for k in after}
        result = fanout_summary(
            name,
            n,
            event_id,
            at,
            records,
            cpu,
            complete=done,
            rss_before=before_rss,
            rss_peak=peak,
        )
        result["seed_seconds"] = self.stack.seed_seconds.get(n)
        if done:  # its failing share: retries, settlement, one redelivery
            self.say(f"{name}: the failing share's retries, then a redelivery")
            result["failing_share"] = await settle(self, tenant, event_id, base, at)
        mine = [r for r in records if r[1] == event_id]  # for pool_fanout
        result["_raw"] = {"sent": {event_id: at}, "records": mine, "cpu": cpu}
        return result

    async def run(self) -> dict[str, dict]:
        s, say = self.sizes, self.say
        scenarios: dict[str, dict] = {}
        say("warming up hookline")
        await self.warm_up()
        # A, B and C twice, in turn (A B C A B C): the machine's speed drifts within a run
        # (shared cores), and B/A and C/B should compare them over the same stretches of it.
        passes: dict[str, list[dict]] = {"A": [], "B": [], "C": []}
        for n in (1, 2):
            say(f"A: naive baseline, {s.naive} workflows (pass {n} of 2)")
            passes["A"].append(await self.naive(f"naive baseline, pass {n}"))
            say(f"B: hookline end to end, {s.events} events, 1 webhook (pass {n} of 2)")
            passes["B"].append(
                await self.closed_loop(f"hookline 1 webhook, pass {n}", "user.created", s.events, 1)
            )
            say(f"C: fan-out, {s.fanout_events} events x {FANOUT} webhooks (pass {n} of 2)")
            passes["C"].append(
                await self.closed_loop(
                    f"fan-out x{FANOUT}, pass {n}", "data.created", s.fanout_events, FANOUT
                )
            )
        self.sent_ids = {key: list(passes[key][0]["_raw"]["sent"]) for key in ("B", "C")}
        scenarios["A"] = pool("naive baseline", passes["A"])
        scenarios["B"] = pool("hookline 1 webhook", passes["B"])
        scenarios["C"] = pool(f"fan-out x{FANOUT}", passes["C"])
        say(f"D: latency, {s.latency_rate:g} events/s for {s.latency_seconds:g} s")
        scenarios["D"] = await self.latency()
        say(f"E: burst of {s.open_events} events left open")
        server_before = server_footprint(self.stack)
        scenarios["E0"] = await self.closed_loop(
            f"burst of {s.open_events} (drain)", "user.created", s.open_events, 1
        )
        scenarios["E0"]["server_footprint"] = open_event_footprint(
            server_before, server_footprint(self.stack), s.open_events
        )
        say(f"E: B again with {s.open_events} more open events")
        scenarios["E"] = await self.closed_loop(
            "B with the burst open", "user.created", s.events, 1
        )
        for tenant in self.stack.fanout:
            key, n = fanout_key(tenant.webhooks), tenant.webhooks
            say(f"{key}: one event to {n:,} webhooks")
            one = await self.fanout(tenant, f"1 event to {n:,} webhooks")
            scenarios[key] = pool_fanout(f"1 event to {n:,} webhooks", [one])
            self.sent_ids[key] = list(one["_raw"]["sent"])
        scenarios |= await noisy.run(self)  # last: its neighbour hangs
        return scenarios
