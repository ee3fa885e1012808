"""Does "Wachtwoord vergeten?" answer as fast for an unknown address as for
an account? (OWASP ASVS 5.0 V6.3.8: no account enumeration, also not by
timing.) Prints the median and p90 of alternating requests for each, and
their difference, measured in one run on one app.

    .venv/bin/python benchmarks/forgot_password_timing.py [--rounds 100]

Both paths do one write transaction (an audit row; a reset link and an
outbox row more for an account) and never wait for SMTP: the mail waits in
the outbox. The figure to quote is the difference of medians, in ms.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="requests per address (default 100)")
    args = parser.parse_args()

    import logging

    logging.disable(logging.INFO)
    from tests.conftest import csrf_token, make_app

    app = make_app(Path(tempfile.mkdtemp()), content=False, FORGOT_PASSWORD_LIMIT="100000 per hour",
                   FORGOT_PASSWORD_EMAIL_LIMIT="100000 per hour")
    client = app.test_client()
    token = csrf_token(client, "/wachtwoord-vergeten")
    times: dict[str, list[float]] = {"lid@delft.example.org": [], "niemand@delft.example.org": []}
    for _ in range(args.rounds):
        for email, seen in times.items():
            start = time.perf_counter()
            answer = client.post("/wachtwoord-vergeten", data={"email": email, "csrf_token": token})
            seen.append(time.perf_counter() - start)
            assert answer.status_code == 302, answer.status_code
    medians = {}
    for email, seen in times.items():
        medians[email] = statistics.median(seen) * 1000
        p90 = sorted(seen)[int(len(seen) * 0.9)] * 1000
        print(f"{email:28} median {medians[email]:6.1f} ms  p90 {p90:6.1f} ms  (n={len(seen)})")
    known, unknown = medians.values()
    print(f"difference of medians: {known - unknown:+.1f} ms (account minus unknown), ratio {known / unknown:.2f}")


if __name__ == "__main__":
    main()
