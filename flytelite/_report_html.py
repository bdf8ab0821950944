"""The run report as HTML: one self-contained page (`Report.to_html`), and a compact
version for notebooks (`Report._repr_html_`).

Everything is drawn here, in Python, as inline SVG with inline CSS; the page's only
script shows the hover details. It loads nothing: no fonts, scripts or images from
anywhere, so it reads the same offline.

Size stays bounded whatever the number of calls:

- the timeline has one lane per call up to `MAX_CALL_LANES` calls; beyond, one lane
  per task under the same chain of callers (at most `MAX_LANES`), and bars of one
  lane and status that fall within a pixel of each other merge into one bar that
  says how many calls it stands for (within more pixels, where that still leaves
  more than `MAX_BARS` bars);
- the concurrency curve has one point per pixel column (the peak in that column);
- the DAG of a dynamic workflow is drawn node by node up to `MAX_DAG_NODES` nodes;
  beyond, one box per task on each level of the DAG, with its node count.
"""

from __future__ import annotations

import html
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._cache import CacheStatus
from ._report import TaskFigures, task_figures

if TYPE_CHECKING:
    from ._report import Report, ReportRow

__all__ = ["render", "render_compact"]

MAX_CALL_LANES = 300
MAX_LANES = 150
MAX_BARS = 3000
_MERGE_GAPS = (1.0, 4.0, 12.0, 40.0, 1e9)  # pixels; the last merges each lane's outcomes
MAX_DAG_NODES = 60
MAX_DAG_LEVEL = 24
MAX_DAGS = 3
KEY_PREFIX = 12
MAX_REASONS = 12

# -- colours by outcome ------------------------------------------------------------------

_KINDS = (
    # kind, label, colour
    ("hit", "cache hit", "#2f9e6a"),
    ("populated", "executed, cached", "#3f6fd8"),
    ("disabled", "executed, not cached", "#8e97a8"),
    ("store", "lookup / put failure", "#e58a1f"),
    ("failed", "failed", "#d9434f"),
    ("cancelled", "cancelled", "#c4c9d2"),
)
_COLOUR = {kind: colour for kind, _, colour in _KINDS}
_LABEL = {kind: label for kind, label, _ in _KINDS}


def _kind(row: ReportRow) -> str:
    if row.status == "failed":
        return "failed"
    if row.status in ("cancelled", "running"):
        return "cancelled"
    cache = row.cache
    if cache is CacheStatus.HIT:
        return "hit"
    if cache in (CacheStatus.LOOKUP_FAILURE, CacheStatus.PUT_FAILURE):
        return "store"
    if cache in (CacheStatus.POPULATED, CacheStatus.MISS):
        return "populated"
    return "disabled"


def _executed_miss(row: ReportRow) -> bool:
    return row.cache in (CacheStatus.MISS, CacheStatus.POPULATED) and row.attempts > 0


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _short(task: str) -> str:
    return task.rsplit(".", 1)[-1]


def _secs(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    if value >= 60:
        return f"{value / 60:.1f} min"
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.001:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1e6:.0f} µs"


# -- the shape of the run: the call tree and its time span -------------------------------


@dataclass
class _Run:
    rows: Sequence[ReportRow]
    t0: float
    t1: float
    order: list[tuple[int, ReportRow]] = field(default_factory=list)  # (depth, row), DFS

    @property
    def wall(self) -> float:
        return max(self.t1 - self.t0, 1e-9)


def _shape(report: Sequence[ReportRow]) -> _Run:
    rows = list(report)
    if not rows:
        return _Run(rows, 0.0, 1e-9)
    t0 = min(r.started for r in rows)
    t1 = max(r.started + r.duration for r in rows)
    present = {id(r) for r in rows}
    children: dict[int, list[ReportRow]] = defaultdict(list)
    roots = []
    for row in rows:
        parent = row.parent
        if parent is None or id(parent) not in present:
            roots.append(row)
        else:
            children[id(parent)].append(row)
    order: list[tuple[int, ReportRow]] = []
    stack = [(0, r) for r in reversed(roots)]
    while stack:  # depth first, children by start time
        depth, row = stack.pop()
        order.append((depth, row))
        kids = children.get(id(row))
        if kids:
            kids.sort(key=lambda r: r.started)
            stack.extend((depth + 1, k) for k in reversed(kids))
    return _Run(rows, t0, t1, order)


# -- per-task figures ------------------------------------------------------------------------


@dataclass
class _TaskFigures:
    figures: TaskFigures
    store: int  # lookup and put failures
    saved: float | None  # an estimate of the time the hits saved


def _per_task(rows: Iterable[ReportRow]) -> list[_TaskFigures]:
    out = []
    for f in task_figures(rows):
        store = f.statuses[CacheStatus.LOOKUP_FAILURE] + f.statuses[CacheStatus.PUT_FAILURE]
        # What a hit saved: what the body took in the call that wrote the entry (the
        # entry records it), less what the hit itself took; for entries that do not
        # record it, the median of the task's successful executions in this run.
        executed = sorted(r.duration for r in f.rows if r.attempts > 0 and r.status == "succeeded")
        median = executed[len(executed) // 2] if executed else None
        saved = None
        for r in f.rows:
            if r.cache is not CacheStatus.HIT:
                continue
            took = r.populated_in if r.populated_in is not None else median
            if took is not None:
                saved = (saved or 0.0) + max(0.0, took - r.duration)
        out.append(_TaskFigures(f, store, saved))
    out.sort(key=lambda t: -t.figures.total)
    return out


# -- the timeline ------------------------------------------------------------------------------


@dataclass
class _Bar:
    x0: float
    x1: float
    kind: str
    rows: list[ReportRow]


def _tip_one(row: ReportRow, t0: float) -> str:
    lines = [row.task]
    if row.node is not None:
        lines[0] += f"  (node {row.node})"
    lines.append(f"{_LABEL[_kind(row)]} · {row.status}")
    lines.append(f"duration {_secs(row.duration)} · started at +{_secs(row.started - t0)}")
    lines.append(f"attempts {row.attempts}")
    if row.key:
        lines.append(f"key {row.key[:KEY_PREFIX]}…")
    if row.miss_reason is not None and row.attempts > 0:
        lines.append(f"miss: {row.miss_reason.summary}")
    if row.spec_cache is not None:
        lines.append(f"spec: {row.spec_cache.value}")
    if row.error:
        lines.append(f"error: {row.error[:200]}")
    return "\n".join(lines)


def _tip_many(bar: _Bar) -> str:
    rows = bar.rows
    tasks = Counter(r.task for r in rows)
    name = tasks.most_common(1)[0][0] if len(tasks) == 1 else f"{len(tasks)} tasks"
    durations = sorted(r.duration for r in rows)
    lines = [
        f"{len(rows)} calls of {name}",
        f"{_LABEL[bar.kind]}",
        f"durations {_secs(durations[0])} \u2013 {_secs(durations[-1])}, "
        f"total {_secs(sum(durations))}",
    ]
    reasons = Counter(r.miss_reason.summary for r in rows if r.miss_reason and r.attempts)
    for reason, count in reasons.most_common(3):
        lines.append(f"miss \u00d7{count}: {reason}")
    return "\n".join(lines)


def _timeline(run: _Run, *, width: int, label_width: int, compact: bool, lane_h: int = 18) -> str:
    if not run.rows:
        return '<p class="fl-muted">No calls.</p>'
    plot = width - label_width - 16
    scale = plot / run.wall

    def x(t: float) -> float:
        return label_width + (t - run.t0) * scale

    per_call = len(run.rows) <= (40 if compact else MAX_CALL_LANES)
    lanes: list[tuple[str, int, list[_Bar]]] = []  # label, depth, bars
    if per_call:
        for depth, row in run.order:
            label = _short(row.task) + (f" · {row.node}" if row.node else "")
            x0 = x(row.started)
            bar = _Bar(x0, max(x0 + 1.5, x(row.started + row.duration)), _kind(row), [row])
            lanes.append((label, depth, [bar]))
    else:
        lanes = _grouped_lanes(
            run,
            x,
            max_lanes=12 if compact else MAX_LANES,
            max_bars=MAX_BARS // 5 if compact else MAX_BARS,
        )
        lane_h += 6
    axis_h = 22
    height = axis_h + lane_h * len(lanes) + 6
    out = [
        f'<svg class="fl-timeline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="timeline of the calls">'
    ]
    out.append(_axis(run, label_width, plot, height, axis_h))

    def tip(text: str) -> str:
        return f"<title>{_e(text)}</title>" if compact else ""

    for i, (label, depth, bars) in enumerate(lanes):
        y = axis_h + i * lane_h
        if i % 2:
            out.append(f'<rect class="fl-lane" x="0" y="{y}" width="{width}" height="{lane_h}"/>')
        indent = 6 + min(depth, 12) * 10
        out.append(
            f'<text class="fl-lane-label" x="{indent}" y="{y + lane_h - 5}">'
            f"{_e(_clip(label, (label_width - indent) // 7))}</text>"
        )
        # a merged lane has a strip per outcome, so that one never hides another
        strips = [kind for kind, _, _ in _KINDS if any(b.kind == kind for b in bars)]
        strip_h = (lane_h - 6) / max(1, len(strips))
        for bar in bars:
            text = _tip_one(bar.rows[0], run.t0) if len(bar.rows) == 1 else _tip_many(bar)
            attr = "" if compact else f' data-tip="{_e(text)}"'
            bar_y = y + 3 + strips.index(bar.kind) * strip_h
            out.append(
                f'<rect class="fl-bar" x="{bar.x0:.1f}" y="{bar_y:.1f}" '
                f'width="{max(2.5, bar.x1 - bar.x0):.1f}" height="{strip_h:.1f}" '
                f'rx="{2 if len(strips) == 1 else 1}" '
                f'fill="{_COLOUR[bar.kind]}"{attr}>{tip(text)}</rect>'
            )
            if per_call and bar.x1 - bar.x0 > 64:
                out.append(
                    f'<text class="fl-bar-label" x="{bar.x0 + 6:.1f}" y="{y + lane_h - 5}">'
                    f"{_e(_secs(bar.rows[0].duration))}</text>"
                )
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, n: int) -> str:
    n = max(n, 4)
    return text if len(text) <= n else text[: n - 1] + "…"


def _grouped_lanes(
    run: _Run, x: Callable[[float], float], *, max_lanes: int, max_bars: int
) -> list[tuple[str, int, list[_Bar]]]:
    """One lane per task under the same chain of callers; nearby bars merge."""
    paths: dict[int, tuple[str, ...]] = {}
    lanes: dict[tuple[str, ...], list[ReportRow]] = {}
    for _, row in run.order:
        parent = row.parent
        base = paths.get(id(parent), ()) if parent is not None else ()
        path = (*base, row.task)
        paths[id(row)] = path
        if path not in lanes and len(lanes) >= max_lanes:
            path = ("…", "other calls")
        lanes.setdefault(path, []).append(row)
    for gap in _MERGE_GAPS:  # the first gap that keeps the page within its bound
        out = [_lane(path, rows, x, gap) for path, rows in lanes.items()]
        if sum(len(bars) for _, _, bars in out) <= max_bars:
            break
    return out


def _lane(
    path: tuple[str, ...], rows: list[ReportRow], x: Callable[[float], float], gap: float
) -> tuple[str, int, list[_Bar]]:
    """A lane's bars: per outcome, calls less than `gap` pixels apart merge."""
    by_kind: dict[str, list[ReportRow]] = defaultdict(list)
    for row in rows:
        by_kind[_kind(row)].append(row)
    bars: list[_Bar] = []
    for kind, group in by_kind.items():
        group.sort(key=lambda r: r.started)
        current: _Bar | None = None
        for row in group:
            x0 = x(row.started)
            x1 = max(x0 + 1.5, x(row.started + row.duration))
            if current is not None and x0 <= current.x1 + gap:
                current.x1 = max(current.x1, x1)
                current.rows.append(row)
            else:
                current = _Bar(x0, x1, kind, [row])
                bars.append(current)
    return f"{_short(path[-1])} \u00d7{len(rows)}", len(path) - 1, bars


def _ticks(span: float, n: int = 6) -> list[float]:
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=mag)
    return [i * step for i in range(int(span / step) + 1)]


def _axis(run: _Run, left: int, plot: float, height: int, axis_h: int) -> str:
    out = []
    for t in _ticks(run.wall):
        px = left + t / run.wall * plot
        out.append(
            f'<line class="fl-grid" x1="{px:.1f}" y1="{axis_h - 4}" x2="{px:.1f}" '
            f'y2="{height}"/><text class="fl-tick" x="{px:.1f}" y="{axis_h - 8}">'
            f"{_e(_secs(t) if t else '0')}</text>"
        )
    return "".join(out)


# -- calls in flight over time --------------------------------------------------------------


def _concurrency(run: _Run, *, width: int, label_width: int, height: int = 120) -> str:
    if not run.rows:
        return ""
    plot = width - label_width - 16
    columns = max(1, int(plot))
    peaks = [0] * columns
    events: list[tuple[float, int]] = []
    for row in run.rows:
        events.append((row.started, 1))
        events.append((row.started + row.duration, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same time
    # the peak of each pixel column: the level it starts at, and every level within it
    level = peak = 0
    i = 0
    for col in range(columns):
        end = run.t0 + (col + 1) / columns * run.wall
        high = level
        while i < len(events) and (events[i][0] < end or col == columns - 1):
            level += events[i][1]
            high = max(high, level)
            i += 1
        peaks[col] = high
        peak = max(peak, high)
    top = max(peak, 1)
    axis_h = 16
    chart = height - axis_h - 4
    points = [f"{label_width},{axis_h + chart}"]
    for col, value in enumerate(peaks):
        y = axis_h + chart - value / top * chart
        points.append(f"{label_width + col},{y:.1f} {label_width + col + 1},{y:.1f}")
    points.append(f"{label_width + columns},{axis_h + chart}")
    average = sum(r.duration for r in run.rows) / run.wall
    out: list[str] = [
        f'<svg class="fl-conc" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="calls in flight over time">',
        _axis(run, label_width, plot, height, axis_h),
        f'<line class="fl-grid" x1="{label_width}" y1="{axis_h}" x2="{width - 16}" y2="{axis_h}"/>',
        f'<polygon class="fl-area" points="{" ".join(points)}"/>',
        f'<text class="fl-lane-label" x="6" y="{axis_h + 12}">peak {peak}</text>',
        f'<text class="fl-muted-svg" x="6" y="{axis_h + 28}">mean {average:.1f}</text>',
        "</svg>",
    ]
    return "".join(out)


# -- the DAG of a dynamic workflow -----------------------------------------------------------


def _dags(run: _Run) -> list[str]:
    out: list[str] = []
    for row in run.rows:
        if row.edges is None or len(out) >= MAX_DAGS:
            continue
        nodes = {r.node: r for r in run.rows if r.parent is row and r.node is not None}
        if nodes:
            out.append(_dag(row, nodes, run.t0))
    return out


def _levels(ids: list[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    level = dict.fromkeys(ids, 0)
    ups: dict[str, list[str]] = defaultdict(list)
    for up, down in edges:
        ups[down].append(up)
    for node in ids:  # nodes are in call order: upstream nodes come first
        for up in ups.get(node, ()):
            level[node] = max(level[node], level.get(up, 0) + 1)
    return level


def _dag(workflow: ReportRow, nodes: dict[str, ReportRow], t0: float) -> str:
    edges = [(u, d) for u, d in workflow.edges or () if u in nodes and d in nodes]
    ids = list(nodes)
    level = _levels(ids, edges)
    columns: dict[int, list[str]] = defaultdict(list)
    for node in ids:
        columns[level[node]].append(node)
    grouped = len(ids) > MAX_DAG_NODES or max(len(c) for c in columns.values()) > MAX_DAG_LEVEL
    # boxes: id -> (label, rows)
    boxes: dict[str, tuple[str, list[ReportRow]]] = {}
    box_of: dict[str, str] = {}
    box_columns: dict[int, list[str]] = defaultdict(list)
    for lev in sorted(columns):
        for node in columns[lev]:
            row = nodes[node]
            box = f"{lev}:{row.task}" if grouped else node
            if box not in boxes:
                boxes[box] = (_short(row.task) if grouped else f"{node}: {_short(row.task)}", [])
                box_columns[lev].append(box)
            boxes[box][1].append(row)
            box_of[node] = box
    links = Counter((box_of[u], box_of[d]) for u, d in edges if box_of[u] != box_of[d])
    box_w, box_h, gap_x, gap_y = 150, 30, 56, 10
    pos: dict[str, tuple[float, float]] = {}
    tallest = max(len(c) for c in box_columns.values())
    height = tallest * (box_h + gap_y) + gap_y + 8
    for lev, column in box_columns.items():
        offset = (height - len(column) * (box_h + gap_y)) / 2
        for i, box in enumerate(column):
            pos[box] = (12 + lev * (box_w + gap_x), offset + i * (box_h + gap_y))
    width = 12 + (max(box_columns) + 1) * (box_w + gap_x)
    out = [
        f'<svg class="fl-dag" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="DAG of {_e(workflow.task)}">',
        '<defs><marker id="fl-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" class="fl-arrowhead"/>'
        "</marker></defs>",
    ]
    for (a, b), count in links.items():
        ax, ay = pos[a]
        bx, by = pos[b]
        x0, y0, x1, y1 = ax + box_w, ay + box_h / 2, bx - 2, by + box_h / 2
        mid = (x0 + x1) / 2
        stroke = min(4.0, 1.0 + math.log2(count)) if grouped else 1.2
        out.append(
            f'<path class="fl-edge" d="M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} '
            f'{x1:.1f},{y1:.1f}" stroke-width="{stroke:.1f}" marker-end="url(#fl-arrow)"/>'
        )
    for box, (label, rows) in boxes.items():
        bx, by = pos[box]
        kinds = Counter(_kind(r) for r in rows)
        if grouped:
            label = f"{label} \u00d7{len(rows)}"
            tip = f"{len(rows)} nodes of {rows[0].task}\n" + "\n".join(
                f"{_LABEL[k]}: {n}" for k, n in kinds.most_common()
            )
        else:
            tip = _tip_one(rows[0], t0)
        out.append(f'<g class="fl-node" data-tip="{_e(tip)}">')
        out.append(
            f'<rect x="{bx:.1f}" y="{by:.1f}" width="{box_w}" height="{box_h}" rx="6" '
            f'class="fl-node-box"/>'
        )
        # a strip of the nodes' outcomes along the box's left edge
        total = len(rows)
        sy = by
        for kind, _, colour in _KINDS:
            n = kinds.get(kind, 0)
            if not n:
                continue
            h = box_h * n / total
            out.append(
                f'<rect x="{bx:.1f}" y="{sy:.1f}" width="6" height="{h:.1f}" fill="{colour}"/>'
            )
            sy += h
        out.append(
            f'<text class="fl-node-label" x="{bx + 14:.1f}" y="{by + box_h / 2 + 4:.1f}">'
            f"{_e(_clip(label, 19))}</text></g>"
        )
    out.append("</svg>")
    title = f"{_short(workflow.task)}: {len(nodes)} nodes, {len(edges)} edges"
    if grouped:
        title += " (one box per task on each level)"
    return f'<h3>{_e(title)}</h3><div class="fl-scroll fl-dag-wrap">{"".join(out)}</div>'


# -- tables -------------------------------------------------------------------------------------


def _task_table(figures: list[_TaskFigures], *, compact: bool) -> str:
    any_store = any(t.store for t in figures)
    longest = max((t.figures.total for t in figures), default=0.0) or 1.0
    head = ["task", "calls", "hits", "executed", "failed"]
    if any_store:
        head.append("store failures")
    head += ["total", "p95"]
    if not compact:
        head.append("saved by hits")
    out = ['<table class="fl-table"><thead><tr>']
    out.extend(f'<th class="{"" if i == 0 else "fl-num"}">{_e(h)}</th>' for i, h in enumerate(head))
    out.append("</tr></thead><tbody>")
    for t in figures:
        f = t.figures
        share = f.total / longest * 100
        cells = [
            f'<td class="fl-task" title="{_e(f.task)}">{_e(f.task)}</td>',
            f'<td class="fl-num">{f.calls}</td>',
            f'<td class="fl-num fl-hit">{f.hits or ""}</td>',
            f'<td class="fl-num">{f.misses or ""}</td>',
            f'<td class="fl-num fl-fail">{f.failed or ""}</td>',
        ]
        if any_store:
            cells.append(f'<td class="fl-num fl-store">{t.store or ""}</td>')
        cells.append(
            f'<td class="fl-num fl-total"><span class="fl-share" style="width:{share:.0f}%">'
            f"</span><span>{_e(_secs(f.total))}</span></td>"
        )
        cells.append(f'<td class="fl-num">{_e(_secs(f.p95))}</td>')
        if not compact:
            saved = "\u2013" if t.saved is None else f"≈ {_secs(t.saved)}"
            cells.append(f'<td class="fl-num">{_e(saved)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _reasons(report: Report) -> str:
    reasons = report.miss_reasons()
    if not reasons:
        return '<p class="fl-muted">No cached call executed.</p>'
    shown = reasons.most_common(MAX_REASONS)
    top = shown[0][1]
    out = ['<table class="fl-reasons">']
    for reason, count in shown:
        out.append(
            f'<tr><td class="fl-num">{count}</td><td class="fl-reason-bar">'
            f'<span style="width:{count / top * 100:.0f}%"></span></td>'
            f"<td>{_e(reason)}</td></tr>"
        )
    rest = sum(reasons.values()) - sum(c for _, c in shown)
    if rest:
        out.append(f'<tr><td class="fl-num">{rest}</td><td></td><td>(other reasons)</td></tr>')
    out.append("</table>")
    return "".join(out)


def _legend(kinds: Iterable[str]) -> str:
    present = set(kinds)
    items = [
        f'<span class="fl-key"><i style="background:{colour}"></i>{_e(label)}</span>'
        for kind, label, colour in _KINDS
        if kind in present
    ]
    return f'<div class="fl-legend">{"".join(items)}</div>'


# -- the summary ------------------------------------------------------------------------------


def _summary(report: Report, run: _Run) -> tuple[str, str, list[tuple[str, str, str]]]:
    """The root task, the outcome, and the summary's figures (label, value, class)."""
    root = run.order[0][1] if run.order else None
    task = root.task if root is not None else "(no calls)"
    outcome = root.status if root is not None else "empty"
    counts = Counter(_kind(r) for r in report)
    executed = sum(_executed_miss(r) for r in report)
    for folded in report.folded.values():  # calls counted beyond the report's row limit
        counts["hit"] += folded.hits
        executed += folded.misses
        store = (CacheStatus.LOOKUP_FAILURE, CacheStatus.PUT_FAILURE)
        counts["store"] += sum(folded.statuses[s] for s in store)
    figures = [
        ("wall time", _secs(run.wall) if report else "\u2013", ""),
        ("calls", f"{report.calls:,}", ""),
        ("cache hits", f"{counts['hit']:,}", "fl-hit"),
        ("executed", f"{executed:,}", ""),
        ("failed", f"{counts['failed']:,}", "fl-fail" if counts["failed"] else ""),
    ]
    if counts["store"]:
        figures.append(("store failures", f"{counts['store']:,}", "fl-store"))
    saved = [f.saved for f in _per_task(report) if f.saved is not None]
    if saved:
        figures.append(("saved by hits (est.)", f"≈ {_secs(sum(saved))}", "fl-hit"))
    return task, outcome, figures


_CSS = """
.fl-report{--fg:#1d2330;--muted:#6b7385;--line:#e3e6ec;--card:#fff;--bg:#f5f6f9;
--lane:#f7f8fa;--accent:#3f6fd8;
font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif;color:var(--fg)}
.fl-report h1{font-size:22px;margin:0 0 4px;font-weight:650;letter-spacing:-.01em}
.fl-report h2{font-size:15px;margin:0 0 10px;font-weight:650}
.fl-report h3{font-size:13px;margin:6px 0 8px;font-weight:600;color:var(--muted)}
.fl-card{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:16px 18px;margin:0 0 16px;box-shadow:0 1px 2px rgba(20,30,50,.04)}
.fl-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:10px}
.fl-badge{font-size:12px;font-weight:600;padding:2px 9px;border-radius:999px;
text-transform:uppercase;letter-spacing:.04em}
.fl-succeeded{background:#e3f4ec;color:#1f7a4f}.fl-failed{background:#fbe5e7;color:#b32532}
.fl-cancelled,.fl-running,.fl-empty{background:#eceef2;color:#596174}
.fl-meta{color:var(--muted);font-size:12.5px;margin-top:2px;word-break:break-all}
.fl-error{margin-top:10px;padding:8px 12px;border-radius:8px;background:#fbe5e7;color:#8f1d28;
font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap}
.fl-meta code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.fl-figures{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
.fl-figure{flex:1 1 110px;background:var(--bg);border-radius:8px;padding:8px 12px}
.fl-figure b{display:block;font-size:20px;font-weight:650;font-variant-numeric:tabular-nums}
.fl-figure span{color:var(--muted);font-size:12px}
.fl-hit{color:#1f7a4f}.fl-fail{color:#b32532}.fl-store{color:#b0650f}
.fl-scroll{overflow:auto;max-height:560px;border:1px solid var(--line);border-radius:8px}
.fl-dag-wrap{max-height:520px;padding:4px;background:var(--bg)}
.fl-legend{display:flex;flex-wrap:wrap;gap:14px;margin:0 0 10px;font-size:12.5px;
color:var(--muted)}
.fl-key i{display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:6px;
vertical-align:-1px}
.fl-lane{fill:var(--lane)}.fl-grid{stroke:var(--line);stroke-width:1}
.fl-tick{font-size:10.5px;fill:var(--muted);text-anchor:middle}
.fl-lane-label{font-size:11.5px;fill:var(--fg)}
.fl-bar-label{font-size:10.5px;fill:#fff;pointer-events:none;font-weight:600}
.fl-muted-svg{font-size:11px;fill:var(--muted)}
.fl-bar{stroke:rgba(0,0,0,.08);stroke-width:.5}.fl-bar:hover{stroke:#111;stroke-width:1.2}
.fl-area{fill:rgba(63,111,216,.22);stroke:var(--accent);stroke-width:1.2}
.fl-table,.fl-reasons{border-collapse:collapse;width:100%;font-size:13px}
.fl-table th{font-weight:600;color:var(--muted);text-align:left;font-size:12px;
border-bottom:1px solid var(--line);padding:6px 10px}
.fl-table td{padding:6px 10px;border-bottom:1px solid var(--line)}
.fl-table tr:last-child td{border-bottom:0}
.fl-num{text-align:right!important;font-variant-numeric:tabular-nums;white-space:nowrap}
.fl-task{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-width:340px;
overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.fl-total{position:relative;min-width:90px}
.fl-total .fl-share{position:absolute;right:0;top:5px;bottom:5px;background:rgba(63,111,216,.12);
border-radius:3px}
.fl-total span{position:relative}
.fl-reasons{width:auto!important}.fl-reasons td{padding:4px 8px}.fl-reason-bar{width:260px}
.fl-reason-bar span{display:block;height:10px;border-radius:3px;background:#e58a1f;opacity:.75}
.fl-muted{color:var(--muted)}
.fl-edge{fill:none;stroke:#9aa3b5}.fl-arrowhead{fill:#9aa3b5}
.fl-node-box{fill:#fff;stroke:#c9cfdb}.fl-node:hover .fl-node-box{stroke:#111}
.fl-node-label{font-size:11.5px;fill:var(--fg)}
"""

_PAGE_CSS = """
html{background:#f5f6f9}body{margin:0;padding:28px 32px 40px}
.fl-page{max-width:1240px;margin:0 auto}
.fl-timeline,.fl-conc{display:block}
#fl-tip{position:fixed;pointer-events:none;z-index:10;background:#1d2330;color:#fff;
font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;padding:8px 10px;
border-radius:6px;white-space:pre-line;max-width:460px;box-shadow:0 4px 14px rgba(0,0,0,.18)}
.fl-foot{color:#8a91a1;font-size:12px;margin-top:8px}
"""

_SCRIPT = """
(function(){var tip=document.getElementById('fl-tip');
function place(e){var w=tip.offsetWidth,h=tip.offsetHeight,x=e.clientX+14,y=e.clientY+14;
if(x+w>innerWidth-8)x=e.clientX-w-14;if(y+h>innerHeight-8)y=e.clientY-h-14;
tip.style.left=x+'px';tip.style.top=y+'px';}
document.addEventListener('mouseover',function(e){var t=e.target.closest('[data-tip]');
if(!t){tip.hidden=true;return;}tip.textContent=t.getAttribute('data-tip');tip.hidden=false;
place(e);});
document.addEventListener('mousemove',function(e){if(!tip.hidden)place(e);});})();
"""


def _header(report: Report, run: _Run) -> str:
    task, outcome, figures = _summary(report, run)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.t0)) if report else ""
    meta = []
    if report.run_id:
        meta.append(f"run <code>{_e(report.run_id)}</code>")
    if when:
        meta.append(f"started {_e(when)}")
    if report.cache_url:
        meta.append(f"cache <code>{_e(report.cache_url)}</code>")
    cells = "".join(
        f'<div class="fl-figure"><b class="{cls}">{_e(value)}</b><span>{_e(label)}</span></div>'
        for label, value, cls in figures
    )
    return (
        f'<div class="fl-head"><h1>{_e(task)}</h1>'
        f'<span class="fl-badge fl-{_e(outcome)}">{_e(outcome)}</span></div>'
        f'<div class="fl-meta">{" · ".join(meta)}</div>'
        f"{_failure(run)}"
        f'<div class="fl-figures">{cells}</div>'
    )


def _failure(run: _Run) -> str:
    """Where a failed run failed: the call that raised its root's exception first (the
    one that started last among the calls it passed through)."""
    if not run.order:
        return ""
    root = run.order[0][1]
    exc = root.exception
    if root.status != "failed" or exc is None:
        return ""
    origin = next((r for r in reversed(run.rows) if r.exception is exc), root)
    where = "" if origin is root else f" in {origin.task}"
    if origin.node is not None:
        where += f" (node {origin.node})"
    return f'<div class="fl-error">failed{_e(where)}: {_e((origin.error or "")[:500])}</div>'


def render(report: Report) -> str:
    """The full page."""
    run = _shape(report)
    width = 1180
    label_w = 230
    kinds = {_kind(r) for r in report}
    lanes_note = ""
    if len(report) > MAX_CALL_LANES:
        lanes_note = (
            f'<p class="fl-muted">{len(report):,} calls: one lane per task under the same '
            "callers; bars closer than a pixel are merged (hover for their count).</p>"
        )
    if report.folded:
        lanes_note += (
            f'<p class="fl-muted">The report kept the rows of its first '
            f"{report.row_limit:,} calls (and of every failed call); the other "
            f"{report.calls - len(report):,} are counted in the figures and the table, "
            "not drawn.</p>"
        )
    sections = [
        f'<section class="fl-card">{_header(report, run)}</section>',
        '<section class="fl-card"><h2>Timeline</h2>'
        + _legend(kinds)
        + lanes_note
        + '<div class="fl-scroll">'
        + _timeline(run, width=width, label_width=label_w, compact=False)
        + "</div></section>",
        '<section class="fl-card"><h2>Calls in flight</h2>'
        + _concurrency(run, width=width, label_width=label_w)
        + "</section>",
        '<section class="fl-card"><h2>Tasks</h2>'
        + _task_table(_per_task(report), compact=False)
        + '<p class="fl-foot">saved by hits: the median time of the task\'s successful '
        "executions in this run, less the hits' own time (\u2013 when it did not execute).</p>"
        + "</section>",
        '<section class="fl-card"><h2>Misses by reason</h2>' + _reasons(report) + "</section>",
    ]
    dags = _dags(run)
    if dags:
        sections.append(
            '<section class="fl-card"><h2>Dynamic workflows</h2>' + "".join(dags) + "</section>"
        )
    task = run.order[0][1].task if run.order else "run"
    from . import __version__

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(task)} · flytelite run report</title>"
        f"<style>{_CSS}{_PAGE_CSS}</style></head>"
        f'<body><main class="fl-report fl-page">{"".join(sections)}'
        f'<p class="fl-foot">flytelite {_e(__version__)} run report</p></main>'
        f'<div id="fl-tip" hidden></div><script>{_SCRIPT}</script></body></html>\n'
    )


def _compact_meta(report: Report, outputs: str | None) -> str:
    meta = []
    if outputs is not None:
        meta.append(f"outputs <code>{_e(outputs)}</code>")
    if report.run_id:
        meta.append(f"run <code>{_e(report.run_id)}</code>")
    if report.cache_url:
        meta.append(f"cache <code>{_e(report.cache_url)}</code>")
    return f'<div class="fl-meta">{" · ".join(meta)}</div>' if meta else ""


def render_compact(report: Report, outputs: str | None = None) -> str:
    """The notebook version: no script (tooltips are SVG titles), styles scoped to it;
    `outputs` is a short repr of the run's outputs, shown under the summary."""
    run = _shape(report)
    task, outcome, figures = _summary(report, run)
    line = " · ".join(f"{value} {label}" for label, value, _ in figures)
    kinds = {_kind(r) for r in report}
    return (
        f'<div class="fl-report"><style>{_CSS}</style>'
        f'<div class="fl-card"><div class="fl-head"><h2 style="margin:0">{_e(task)}</h2>'
        f'<span class="fl-badge fl-{_e(outcome)}">{_e(outcome)}</span>'
        f'<span class="fl-muted">{_e(line)}</span></div>'
        + _compact_meta(report, outputs)
        + _failure(run)
        + '<div style="margin-top:12px">'
        + _legend(kinds)
        + _timeline(run, width=760, label_width=170, compact=True, lane_h=16)
        + "</div>"
        + '<div style="margin-top:12px">'
        + _task_table(_per_task(report)[:20], compact=True)
        + "</div><h3>misses by reason</h3>"
        + _reasons(report)
        + "</div></div>"
    )
