"""What the security blocks cost: decision verification and payload encryption.

Run: ``uv run python bench/security.py [--repeat N]`` (needs ``ssh-keygen``; Markdown
table on stdout). Figures are medians over N runs in this process, with a baseline
measured in the same run:

* verifying a signed decision (ed25519, rsa-3072) against a 50-line allowed-signers
  file, beside parsing the same decision from JSON (what the workflow does anyway);
* the AES-GCM codec encoding and decoding a 4 KiB and a 256 KiB payload, beside the
  plain pydantic JSON conversion of the same value.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter

from rollway.security.codec import AesGcmCodec, Keyring
from rollway.security.decisions import SignedDecision, verify_decision
from rollway.security.signing import new_payload, sign_decision
from rollway.security.ssh_verifier import SshDecisionVerifier

WF = "promote-demo-4f2a9c1"


def median_us(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def key(folder: Path, name: str, kind: str) -> tuple[Path, str]:
    path = folder / name
    bits = ["-b", "3072"] if kind == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-f", str(path)], check=True)
    kt, b64 = path.with_suffix(".pub").read_text().split()[:2]
    return path, f"{name} {kt} {b64}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    repeat = parser.parse_args().repeat
    rows: list[tuple[str, float, float]] = []
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines = [key(folder, f"filler{i}", "ed25519")[1] for i in range(48)]
        ed_path, ed_line = key(folder, "alice", "ed25519")
        rsa_path, rsa_line = key(folder, "bob", "rsa")
        allowed = "\n".join([*lines, ed_line, rsa_line])
        verifier = SshDecisionVerifier(allowed)
        for who, path in (("alice", ed_path), ("bob", rsa_path)):
            decision = sign_decision(new_payload("approve", WF, who, now=now), path)
            text = decision.model_dump_json()
            base = median_us(partial(SignedDecision.model_validate_json, text), repeat)

            def verify(d: SignedDecision = decision) -> object:
                return verify_decision(
                    d, [verifier], workflow_id=WF, action="approve", now=now, seen_nonces=()
                )

            kind = "ed25519" if who == "alice" else "rsa-3072"
            rows.append((f"verify decision ({kind})", median_us(verify, repeat), base))
        rows.append(
            (
                "parse 50-line allowed signers",
                median_us(lambda: SshDecisionVerifier(allowed), repeat),
                0.0,
            )
        )
    codec = AesGcmCodec(Keyring.generate("k1"))
    for size in (4 * 1024, 256 * 1024):
        value = {"blob": "x" * size}
        [payload] = pydantic_data_converter.payload_converter.to_payloads([value])
        [sealed] = asyncio.run(codec.encode([payload]))
        convert = pydantic_data_converter.payload_converter.to_payloads
        base = median_us(partial(convert, [value]), repeat)
        rows.append(
            (
                f"encrypt {size // 1024} KiB payload",
                median_us(partial(codec.encrypt, payload), repeat),
                base,
            )
        )
        rows.append(
            (
                f"decrypt {size // 1024} KiB payload",
                median_us(partial(codec.decrypt, sealed), repeat),
                base,
            )
        )
    print("| operation | median µs | baseline µs | ratio |")
    print("|---|---:|---:|---:|")
    for name, us, base in rows:
        ratio = f"{us / base:.1f}x" if base else "—"
        print(f"| {name} | {us:.1f} | {base:.1f} | {ratio} |")
    print(
        "\nbaseline: parsing the decision's JSON (verify rows), pydantic JSON conversion "
        "of the same value (codec rows)"
    )


if __name__ == "__main__":
    main()
