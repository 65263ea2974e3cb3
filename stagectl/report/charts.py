"""Inline SVG charts for the HTML report: no JavaScript, no external assets, deterministic output.

Hand-written because the charts are three simple shapes and the report must be one self-contained,
byte-stable file; a plotting library would add a heavy dependency and embed timestamps or ids.
Every number is formatted with a fixed precision so the same report gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from stagectl.levels import LEVELS
from stagectl.report.model import BenchPhase, ChaosPhase, UpPhase

LEVEL_COLOURS = {"OPTIMAL": "#2e7d32", "DEGRADED": "#f9a825", "LIMITED": "#ef6c00", "MINIMAL": "#c62828",
                 "EMERGENCY": "#4a148c"}
PERCENTILE_COLOURS = (("p50", "#90caf9"), ("p95", "#1e88e5"), ("p99", "#0d47a1"))
FONT = 'font-family="Helvetica, Arial, sans-serif" font-size="11"'


def _f(x: float) -> str:
    return f"{x:.1f}"


def _svg(width: int, height: int, title: str, body: Sequence[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
            f'width="100%" style="max-width:{width}px" {FONT}><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def _nice_max(value: float) -> float:
    """The smallest 1/2/5×10^k at or above value, so axis ticks are round numbers."""
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 100
    for factor in (1, 2, 5, 10, 20, 50, 100):
        if step * factor >= value:
            return step * factor
    return value


def latency_chart(bench: BenchPhase) -> str:
    """Grouped horizontal bars: p50/p95/p99 per endpoint, with each endpoint's target as a tick."""
    rows: list[tuple[str, tuple[float, float, float], float | None]] = [
        (e.name, (e.p50_ms, e.p95_ms, e.p99_ms), e.target_ms) for e in bench.endpoints]
    if bench.ceiling is not None:
        c = bench.ceiling
        rows.append((f"{c.name} (ceiling)", (c.p50_ms, c.p95_ms, c.p99_ms), None))
    if not rows:
        return ""
    label_w, plot_w, row_h, top = 210, 460, 42, 28
    height = top + row_h * len(rows) + 30
    vmax = _nice_max(max(max(v) for _, v, _ in rows) * 1.05)
    scale = plot_w / vmax
    body = [f'<text x="{label_w}" y="14" font-weight="bold">latency (ms, linear scale)</text>']
    for i, (name, (p50, p95, p99), target) in enumerate(rows):
        y = top + i * row_h
        body.append(f'<text x="{label_w - 6}" y="{y + 20}" text-anchor="end">{escape(name)}</text>')
        for j, ((label, colour), value) in enumerate(zip(PERCENTILE_COLOURS, (p50, p95, p99))):
            by = y + 4 + j * 11
            body.append(f'<rect x="{label_w}" y="{by}" width="{_f(value * scale)}" height="9" fill="{colour}"/>')
            body.append(f'<text x="{_f(label_w + value * scale + 4)}" y="{by + 8}" font-size="9">'
                        f"{label} {value:.1f}</text>")
        if target is not None and target <= vmax:
            tx = _f(label_w + target * scale)
            body.append(f'<line x1="{tx}" y1="{y + 2}" x2="{tx}" y2="{y + 38}" stroke="#c62828" stroke-dasharray="3,2"/>')
    axis_y = top + row_h * len(rows) + 4
    body.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="#555"/>')
    for k in range(5):
        v = vmax * k / 4
        x = _f(label_w + v * scale)
        body.append(f'<text x="{x}" y="{axis_y + 14}" text-anchor="middle" font-size="9">{v:g}</text>')
    body.append(f'<text x="{label_w + plot_w}" y="{axis_y + 26}" text-anchor="end" font-size="9" fill="#c62828">'
                "dashed: target (off-scale when larger than the axis)</text>")
    return _svg(label_w + plot_w + 70, height + 10, "Latency percentiles per endpoint", body)


def level_timeline_chart(chaos: ChaosPhase) -> str:
    """Step chart of the degradation level over the chaos phase, scenario names along the top."""
    samples = sorted(chaos.timeline, key=lambda s: s.t_s)
    if not samples:
        return ""
    left, plot_w, lane_h, top = 90, 560, 24, 62
    t_max = max(samples[-1].t_s, 1e-9)
    scale = plot_w / t_max
    body = [f'<text x="{left}" y="12" font-weight="bold">degradation level during chaos (seconds)</text>']
    for i, level in enumerate(LEVELS):
        lane_y = top + i * lane_h
        body.append(f'<rect x="{left}" y="{lane_y}" width="{plot_w}" height="{lane_h}" fill="{LEVEL_COLOURS[level]}" fill-opacity="0.08"/>')
        body.append(f'<text x="{left - 6}" y="{lane_y + 16}" text-anchor="end" font-size="9">{level}</text>')
    points: list[str] = []
    prev_y: float | None = None
    for sample in samples:  # a step chart: hold the previous level until the next sample
        x = left + sample.t_s * scale
        y = top + LEVELS.index(sample.level) * lane_h + lane_h / 2
        if prev_y is not None:
            points.append(f"{_f(x)},{_f(prev_y)}")
        points.append(f"{_f(x)},{_f(y)}")
        prev_y = y
    body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#263238" stroke-width="2"/>')
    for sample in samples:
        x, y = left + sample.t_s * scale, top + LEVELS.index(sample.level) * lane_h + lane_h / 2
        body.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3" fill="{LEVEL_COLOURS[sample.level]}"/>')
    seen: set[str] = set()
    for sample in samples:
        if sample.scenario and sample.scenario not in seen:
            seen.add(sample.scenario)
            at = _f(left + sample.t_s * scale)
            body.append(f'<line x1="{at}" y1="{top - 4}" x2="{at}" y2="{top + 5 * lane_h}" stroke="#999" stroke-dasharray="2,3"/>')
            body.append(f'<text x="{at}" y="{top - 8}" font-size="8" transform="rotate(-25 {at} {top - 8})">'
                        f"{escape(sample.scenario)}</text>")
    axis_y = top + 5 * lane_h
    for k in range(6):
        t = t_max * k / 5
        body.append(f'<text x="{_f(left + t * scale)}" y="{axis_y + 14}" text-anchor="middle" font-size="9">{t:.1f}</text>')
    return _svg(left + plot_w + 30, axis_y + 24, "Degradation level timeline during chaos", body)


def time_to_healthy_chart(up: UpPhase) -> str:
    """Horizontal bars: seconds from start to healthy per service (skipped services listed as such)."""
    rows = [(s.name, s.ready_s) for s in up.services] + [(n, None) for n in sorted(up.skipped)]
    if not rows:
        return ""
    label_w, plot_w, row_h, top = 110, 480, 20, 24
    vmax = _nice_max(max((r for _, r in rows if r is not None), default=1.0) * 1.1)
    scale = plot_w / vmax
    body = [f'<text x="{label_w}" y="12" font-weight="bold">time to healthy (seconds)</text>']
    for i, (name, ready) in enumerate(rows):
        y = top + i * row_h
        body.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>')
        if ready is None:
            body.append(f'<text x="{label_w + 4}" y="{y + 13}" fill="#777" font-style="italic">skipped</text>')
            continue
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{_f(ready * scale)}" height="13" fill="#43a047"/>')
        body.append(f'<text x="{_f(label_w + ready * scale + 4)}" y="{y + 13}" font-size="9">{ready:.3f} s</text>')
    axis_y = top + row_h * len(rows) + 2
    body.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="#555"/>')
    for k in range(5):
        v = vmax * k / 4
        body.append(f'<text x="{_f(label_w + v * scale)}" y="{axis_y + 13}" text-anchor="middle" font-size="9">{v:g}</text>')
    return _svg(label_w + plot_w + 60, axis_y + 20, "Time to healthy per service", body)
