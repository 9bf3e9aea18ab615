"""``python -m interop.sim [port]``: run the demo EHR simulator in the foreground."""

from __future__ import annotations

import sys
import time

from interop.sim.server import demo_simulator


def main() -> None:
    sim = demo_simulator(int(sys.argv[1]) if len(sys.argv) > 1 else 8090).start()
    sim.add_client("cdss-demo", "cdss-demo-secret", "http://127.0.0.1:8000/smart/callback")
    print(f"EHR simulator: FHIR {sim.fhir_base}; launch: {sim.base}/ehr/launch?patient=ehr-1&user=Practitioner/1&app=http://127.0.0.1:8000/smart/launch")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
