"""Plots loadtests/results.json: calls vs server CPU and calls vs p99 latency, vidid and Janus."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = json.load(open(sys.argv[1]))
fig, (cpu, lat) = plt.subplots(1, 2, figsize=(11, 4.2))
for server, style in (("vidid", "o-"), ("janus", "s--")):
    ok = [r for r in rows if r["server"] == server and r["report"]]
    if not ok:
        continue
    calls = [r["calls"] for r in ok]
    cpu.plot(calls, [r["report"]["server_cpu_percent"] for r in ok], style, label=server)
    lat.plot(calls, [r["report"]["latency_p99_us"] / 1000 for r in ok], style, label=server)
cpu.set(xlabel="simultaneous calls", ylabel="server CPU (% of one core)", title="CPU")
lat.set(xlabel="simultaneous calls", ylabel="p99 one-way latency (ms)", title="p99 latency")
for ax in (cpu, lat):
    ax.grid(True, alpha=0.3)
    ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
