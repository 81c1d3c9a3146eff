"""A TCP relay that adds a round-trip time and TCP's answer to loss, in user space.

    .venv/bin/python bench/netem_proxy.py --target 127.0.0.1:8883 --rtt-ms 100 --loss 0.01

Used where ``tc qdisc ... netem`` cannot run (no sch_netem in the kernel; see docs/reliability.md).
Each direction delays every chunk by half the RTT, in order. Loss is modelled as TCP experiences
it, not as a dropped byte (TCP never loses bytes): with probability ``--loss`` a chunk waits one
retransmission timeout more (Linux: at least 200 ms, here ``max(200 ms, 2 x RTT)``) and holds
back everything behind it (head-of-line blocking); a lost SYN costs the initial RTO (1 s). The
relay prints the port it listens on, then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time


class Link:
    def __init__(self, rtt: float, loss: float, seed: int) -> None:
        self.one_way = rtt / 2
        self.loss = loss
        self.rto = max(0.2, 2 * rtt)
        self.rng = random.Random(seed)  # noqa: S311 - a loss model, not a secret

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        last = 0.0
        try:
            while True:
                data = await reader.read(65536)
                due = time.monotonic() + self.one_way
                if data and self.rng.random() < self.loss:
                    due += self.rto
                last = max(last, due)
                await queue.put((last, data))
                if not data:
                    break
            await sender
        except (ConnectionError, OSError):
            sender.cancel()
            writer.close()

    async def handle(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, target: tuple[str, int]
    ) -> None:
        # the TCP handshake: one RTT, or the initial RTO when the SYN is lost
        await asyncio.sleep(self.one_way * 2 + (1.0 if self.rng.random() < self.loss else 0.0))
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self.pipe(client_r, server_w), self.pipe(server_r, client_w), return_exceptions=True)


async def serve(args: argparse.Namespace) -> None:
    host, _, port = args.target.rpartition(":")
    link = Link(args.rtt_ms / 1000, args.loss, args.seed)
    server = await asyncio.start_server(lambda r, w: link.handle(r, w, (host, int(port))), "127.0.0.1", args.port)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="HOST:PORT to relay to")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one, printed)")
    parser.add_argument("--rtt-ms", type=float, default=100.0)
    parser.add_argument("--loss", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
