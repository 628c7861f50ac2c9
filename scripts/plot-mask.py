#!/usr/bin/python3
"""Draws every band's measured response against the IEC 61260-1:2014 class 1 mask.

  scripts/plot-mask.py RESPONSE.csv OUT.png     (make mask-plot runs both steps)

RESPONSE.csv is what `cargo run --release --example filter_response` prints: per layout, band
and tone, the normalised frequency f/fm, the band's attenuation relative to its reading at its
own centre, and the mask's limits there (the example computes them with spektr's own
transcription of Table 1, spektr::engine::mask). Per layout, two panels: the whole skirt
(relative level, dB) and the pass band up close. Every band is a thin line; the red areas are
what class 1 forbids. Needs matplotlib (Debian: python3-matplotlib).
"""
import collections
import csv
import math
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

G = 10 ** 0.3


def breakpoint(b, x):
    """IEC 61260-1:2014 Formula (9): Table 1's octave breakpoint G^x for 1/b-octave bands."""
    return 1 + (G ** (1 / (2 * b)) - 1) / (G ** 0.5 - 1) * (G ** x - 1)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    rows = collections.defaultdict(lambda: collections.defaultdict(list))
    per_octave = collections.defaultdict(list)
    with open(sys.argv[1]) as f:
        for r in csv.DictReader(f):
            key = (r["layout"], r["rate"])
            rows[key][r["band_hz"]].append(
                (float(r["omega"]), float(r["attenuation_db"]), float(r["mask_min_db"]),
                 float(r["mask_max_db"]) if r["mask_max_db"] else math.inf))
            per_octave[key].append(float(r["bands_per_octave"]))
    if not rows:
        sys.exit(f"error: {sys.argv[1]} holds no responses")

    layouts = list(rows)
    cols = 3
    grid_rows = 2 * math.ceil(len(layouts) / cols)
    fig, axes = plt.subplots(grid_rows, cols, figsize=(5.2 * cols, 3.1 * grid_rows),
                             squeeze=False)
    for n, key in enumerate(layouts):
        full, near = axes[2 * (n // cols)][n % cols], axes[2 * (n // cols) + 1][n % cols]
        b = statistics.median(per_octave[key])
        worst = math.inf
        for points in rows[key].values():
            points.sort()
            om = [p[0] for p in points]
            level = [-p[1] for p in points]
            for ax in (full, near):
                ax.plot(om, level, color="#1f5fa8", lw=0.6, alpha=0.35)
            for _, att, lo, hi in points:
                worst = min(worst, att - lo, hi - att)
        # The mask for the layout's (median) bandwidth, from Table 1's breakpoints.
        stop = [(0.5, 1.2), (1, 16.6), (2, 40.5), (3, 60.0), (4, 70.0), (4.6, 70.0)]
        passband = [(0, 0.4), (0.125, 0.5), (0.25, 0.7), (0.375, 1.4), (0.5, 5.3)]
        for side in (1, -1):
            so = [breakpoint(b, x) ** side for x, _ in stop]
            sv = [-v for _, v in stop]
            po = [breakpoint(b, x) ** side for x, _ in passband]
            pv = [-v for _, v in passband]
            for ax in (full, near):
                ax.fill_between(so, sv, [10] * len(so), color="#d62728", alpha=0.18, lw=0)
                ax.fill_between(po, pv, [-200] * len(po), color="#d62728", alpha=0.18, lw=0)
                ax.fill_between(po, [0.4] * len(po), [10] * len(po), color="#d62728",
                                alpha=0.18, lw=0)
        layout, rate = key
        title = f"{layout}-octave bands" if layout != "log" else "default log layout (32 bars)"
        full.set_title(f"{title}, {int(rate) / 1000:g} kHz: {len(rows[key])} bands, "
                       f"worst margin {worst:.2f} dB", fontsize=9)
        span = breakpoint(b, 4.6)
        full.set_xlim(1 / span, span)
        full.set_ylim(-90, 3)
        near_span = breakpoint(b, 0.7)
        near.set_xlim(1 / near_span, near_span)
        near.set_ylim(-7, 1.5)
        near.set_title("pass band and edges, up close", fontsize=8)
        for ax in (full, near):
            ax.set_xscale("log")
            ax.grid(True, which="both", lw=0.3, alpha=0.5)
            ax.set_xlabel("f / fm (normalised frequency)", fontsize=8)
            ax.set_ylabel("relative level, dB", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        # Ticks at the mask's own breakpoints (Table 1's G^x, mapped to the bandwidth).
        for ax, xs, digits in ((full, (2, 4), 3), (near, (0.25, 0.5), 4)):
            ticks = sorted([breakpoint(b, x) ** s for x in xs for s in (1, -1)] + [1.0])
            ax.set_xticks(ticks, [f"{t:.{digits}g}" for t in ticks])
    for n in range(len(layouts), grid_rows // 2 * cols):
        axes[2 * (n // cols)][n % cols].axis("off")
        axes[2 * (n // cols) + 1][n % cols].axis("off")
    fig.suptitle("spektr's bands, measured with steady tones (blue, one line per band), against "
                 "the IEC 61260-1:2014 class 1 limits (red: outside them)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(sys.argv[2], dpi=90)
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
