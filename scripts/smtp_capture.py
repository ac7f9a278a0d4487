"""A real SMTP server (aiosmtpd) that writes every message it receives to a folder.

Usage: python3 scripts/smtp_capture.py HOST PORT OUTDIR
Each message becomes OUTDIR/<n>.eml, with the envelope recipients in OUTDIR/<n>.rcpt.
"""

import asyncio
import itertools
import pathlib
import sys

from aiosmtpd.controller import Controller


class Capture:
    def __init__(self, outdir: pathlib.Path):
        self.outdir = outdir
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        (self.outdir / f"{n}.eml").write_bytes(envelope.original_content or envelope.content)
        (self.outdir / f"{n}.rcpt").write_text("\n".join(envelope.rcpt_tos) + "\n")
        return "250 Message accepted for delivery"


def main() -> None:
    host, port, outdir = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
    outdir.mkdir(parents=True, exist_ok=True)
    controller = Controller(Capture(outdir), hostname=host, port=port)
    controller.start()
    print(f"smtp capture on {host}:{port}", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
