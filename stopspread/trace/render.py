"""The human-readable report of an evidence bundle: one self-contained HTML file (inline SVG,
no scripts, no external resources), printable to PDF from any browser."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from html import escape
from typing import Any

from stopspread.trace.chain import parse_iso

#: Copies drawn in the report's graph; a larger case is drawn in part (the JSON has all of it).
MAX_DRAWN = 400
#: Events listed in the report's timeline table; the JSON has all of them.
MAX_LISTED = 1000
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _when(text: str | None) -> str:
    return parse_iso(text).strftime("%Y-%m-%d %H:%M:%S UTC") if text else "unknown"


def layout(trace: dict[str, Any], *, width: int = 960, limit: int = MAX_DRAWN) -> dict[str, Any]:
    """Positions of the copies: time from left to right, one band per platform, each tree's copies
    on neighbouring rows (depth-first order). The investigator page does the same in JavaScript."""
    nodes = trace["nodes"][:limit]
    ids = {n["id"] for n in nodes}
    edges = [e for e in trace["edges"] if e["source"] in ids and e["target"] in ids]
    parent = {e["target"]: e["source"] for e in edges}
    times = [parse_iso(n["first_seen"]).timestamp() for n in nodes if n["first_seen"]]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    span = max(t1 - t0, 1.0)
    left, right = 150, width - 20
    by_id = {n["id"]: n for n in nodes}
    x: dict[str, float] = {}
    for n in nodes:
        if n["first_seen"]:
            x[n["id"]] = left + (parse_iso(n["first_seen"]).timestamp() - t0) / span * (right - left)
    for n in nodes:  # an unobserved copy sits just before its first child
        if n["id"] not in x:
            kids = [x[c] for c, p in parent.items() if p == n["id"] and c in x]
            x[n["id"]] = max(left - 30, min(kids, default=left) - 20)
    children: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        children[e["source"]].append(e["target"])
    platforms = sorted(
        {n["platform"] for n in nodes},
        key=lambda p: next(i for i, n in enumerate(nodes) if n["platform"] == p),
    )
    order: list[str] = []
    seen: set[str] = set()
    for root in [n["id"] for n in nodes if n["id"] not in parent]:
        stack = [root]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            order.append(node)
            stack.extend(reversed(children.get(node, [])))
    order += [n["id"] for n in nodes if n["id"] not in seen]
    rows: dict[str, int] = {}
    per_platform: dict[str, int] = defaultdict(int)
    for node in order:
        platform = by_id[node]["platform"]
        rows[node] = per_platform[platform]
        per_platform[platform] += 1
    row_height, top = 18, 30
    bands, y = [], {}
    offset = top
    for platform in platforms:
        height = max(per_platform[platform], 1) * row_height + 20
        bands.append({"platform": platform, "y": offset, "height": height})
        for node in order:
            if by_id[node]["platform"] == platform:
                y[node] = offset + 15 + rows[node] * row_height
        offset += height
    return {
        "width": width,
        "height": offset + 30,
        "x": x,
        "y": y,
        "bands": bands,
        "nodes": nodes,
        "edges": edges,
        "t0": t0,
        "t1": t1,
        "platforms": platforms,
    }


def graph_svg(trace: dict[str, Any]) -> str:
    lay = layout(trace)
    colour = {p: _COLOURS[i % len(_COLOURS)] for i, p in enumerate(lay["platforms"])}
    earliest = (trace.get("earliest_sharer") or {}).get("node")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{lay["width"]}" '
        f'height="{lay["height"]}" viewBox="0 0 {lay["width"]} {lay["height"]}">'
    ]
    for i, band in enumerate(lay["bands"]):
        fill = "#f6f6f6" if i % 2 == 0 else "#ffffff"
        out.append(
            f'<rect x="0" y="{band["y"]}" width="{lay["width"]}" height="{band["height"]}" fill="{fill}"/>'
            f'<text x="8" y="{band["y"] + 16}" font-size="13" font-weight="bold">'
            f"{_e(band['platform'])}</text>"
        )
    for e in lay["edges"]:
        x1, y1, x2, y2 = (
            lay["x"][e["source"]],
            lay["y"][e["source"]],
            lay["x"][e["target"]],
            lay["y"][e["target"]],
        )
        dash = ' stroke-dasharray="4 3"' if e["kind"] == "inferred" else ""
        out.append(
            f'<line class="edge {e["kind"]}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="#555" stroke-width="1.2"{dash}/>'
        )
    for n in lay["nodes"]:
        cx, cy = lay["x"][n["id"]], lay["y"][n["id"]]
        fill = colour[n["platform"]] if n["observed"] else "#ffffff"
        ring = (
            ' stroke="#000" stroke-width="3"' if n["id"] == earliest else f' stroke="{colour[n["platform"]]}"'
        )
        label = f"{n['account'] or 'unknown account'} · {n['content_id']} · {_when(n['first_seen'])}"
        out.append(
            f'<circle class="node" data-id="{_e(n["id"])}" cx="{cx:.1f}" cy="{cy:.1f}" r="6" '
            f'fill="{fill}"{ring}><title>{_e(label)}</title></circle>'
        )
        if n["account"]:
            out.append(
                f'<text x="{cx + 9:.1f}" y="{cy + 4:.1f}" font-size="10" fill="#333">'
                f"{_e(n['account'].split('/', 1)[1])}</text>"
            )
    out.append(
        f'<text x="150" y="{lay["height"] - 8}" font-size="11">{_e(_when(_iso_ts(lay["t0"])))}</text>'
        f'<text x="{lay["width"] - 20}" y="{lay["height"] - 8}" font-size="11" text-anchor="end">'
        f"{_e(_when(_iso_ts(lay['t1'])))}</text></svg>"
    )
    return "".join(out)


def _iso_ts(ts: float) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(ts, UTC).isoformat()


def timeline_svg(trace: dict[str, Any], *, width: int = 960, height: int = 160) -> str:
    series = trace["timeline"]["series"]
    if not series:
        return "<p>No copies seen.</p>"
    buckets = sorted({s["t"] for s in series})
    platforms = sorted({s["platform"] for s in series})
    colour = {p: _COLOURS[i % len(_COLOURS)] for i, p in enumerate(platforms)}
    totals: dict[str, int] = defaultdict(int)
    for s in series:
        totals[s["t"]] += s["copies"]
    peak = max(totals.values())
    bar = max(2.0, (width - 60) / len(buckets))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height + 30}">'
    ]
    stacked: dict[str, int] = defaultdict(int)
    for s in series:
        i = buckets.index(s["t"])
        h = s["copies"] / peak * height
        y = height - (stacked[s["t"]] / peak * height) - h
        stacked[s["t"]] += s["copies"]
        out.append(
            f'<rect class="bar" x="{40 + i * bar:.1f}" y="{y + 10:.1f}" width="{bar * 0.85:.1f}" '
            f'height="{h:.1f}" fill="{colour[s["platform"]]}">'
            f"<title>{_e(s['platform'])} {_e(s['t'])}: {s['copies']}</title></rect>"
        )
    out.append(f'<text x="4" y="20" font-size="11">{peak}</text>')
    legend = " ".join(f'<tspan fill="{colour[p]}">■ {_e(p)}</tspan>' for p in platforms)
    out.append(
        f'<text x="40" y="{height + 26}" font-size="11">{legend} '
        f"(new copies per {trace['timeline']['bucket']})</text>"
    )
    out.append("</svg>")
    return "".join(out)


def report_html(
    *,
    trace: dict[str, Any],
    events: list[dict[str, Any]],
    chats: list[dict[str, Any]],
    custody: dict[str, Any],
) -> str:
    """The report a court reads: summary, earliest sharers, timeline, graph, chats, custody."""
    case = trace["case"]
    nodes = [n for n in trace["nodes"] if n["observed"]]
    accounts = {n["account"] for n in nodes if n["account"]}
    platforms = sorted({n["platform"] for n in nodes})
    earliest = trace.get("earliest_sharer")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Evidence report — case {_e(case)}</title>",
        "<style>body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}"
        "th{background:#eee}.mono{font-family:monospace;font-size:12px;word-break:break-all}"
        ".flag{background:#fde2e2}section{margin:1.6em 0}</style></head><body>",
        f"<h1>Evidence report — case {_e(case)}</h1>",
        f"<p>Exported {_e(_when(custody['created_at']))} by {_e(custody['exported_by'])} from the stopspread "
        f"deployment whose evidence key is <span class='mono'>{_e(custody['key_id'])}</span>.</p>",
        "<section><h2>Summary</h2><table>",
        f"<tr><th>Events</th><td>{trace['events']}</td></tr>",
        f"<tr><th>Copies seen</th><td>{len(nodes)} on {len(platforms)} platform(s): "
        f"{_e(', '.join(platforms))}</td></tr>",
        f"<tr><th>Accounts</th><td>{len(accounts)}</td></tr>",
        f"<tr><th>Originals</th><td>{len(trace['originals'])}</td></tr>",
        f"<tr><th>First copy</th><td>{_e(_when(trace['speed'].get('first')))}</td></tr>",
        f"<tr><th>Last copy</th><td>{_e(_when(trace['speed'].get('last')))}</td></tr>",
        f"<tr><th>Spread</th><td>{trace['speed'].get('copies_first_day', 0)} copies in the first day, "
        f"{trace['speed'].get('copies', 0)} over {trace['speed'].get('hours', 0)} hours</td></tr>",
        "</table></section>",
        "<section><h2>Earliest sharer</h2>",
    ]
    if earliest:
        parts.append(
            f"<p id='earliest'>The earliest copy whose uploader is known was shared by "
            f"<b>{_e(earliest['account'])}</b> on {_e(earliest['platform'])} at {_e(_when(earliest['at']))} "
            f"(copy <span class='mono'>{_e(earliest['node'])}</span>).</p>"
        )
        if earliest.get("earlier_unattributed"):
            u = earliest["earlier_unattributed"]
            parts.append(
                f"<p>An earlier copy with no reported uploader was seen on {_e(u['platform'])} at "
                f"{_e(_when(u['at']))} (<span class='mono'>{_e(u['node'])}</span>).</p>"
            )
    else:
        parts.append("<p>No copy with a known uploader.</p>")
    parts.append(
        "<h3>Per original: earliest sighting and the accounts that introduced it to each platform</h3>"
    )
    parts.append(
        "<table><tr><th>Original</th><th>Earliest sighting</th><th>Introduced to</th><th>Copies</th></tr>"
    )
    for o in trace["originals"]:
        intro = "<br>".join(
            f"{_e(p)}: <b>{_e(i['account'] or 'unknown account')}</b> at {_e(_when(i['at']))}"
            + (f" (+{i['hours_after_first']} h)" if i.get("hours_after_first") else "")
            for p, i in o["introducers"].items()
        )
        e = o["earliest"]
        parts.append(
            f"<tr><td>fingerprint {_e(o['original'])}</td><td>{_e(e['account'] or 'unknown account')} on "
            f"{_e(e['platform'])}<br>{_e(_when(e['at']))}</td><td>{intro}</td><td>{o['copies']}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        "<h3>Accounts whose copies spread most</h3><table><tr><th>Account</th><th>Uploads</th>"
        "<th>Forwarded to (direct)</th><th>Reach (all later copies)</th><th>First seen</th></tr>"
    )
    for s in trace["top_spreaders"]:
        parts.append(
            f"<tr><td>{_e(s['account'])}</td><td>{s['uploads']}</td><td>{s['forwarded_to']}</td>"
            f"<td>{s['reach']}</td><td>{_e(_when(s['first_seen']))}</td></tr>"
        )
    parts.append("</table></section>")
    parts.append(f"<section><h2>Timeline</h2>{timeline_svg(trace)}</section>")
    drawn = min(len(trace["nodes"]), MAX_DRAWN)
    parts.append(
        "<section><h2>Spread graph</h2><p>Each circle is a copy (hollow: known only because a later copy "
        "names it as its source); solid lines are forwards the platforms reported, dashed lines are inferred "
        "from time and picture similarity. The ringed copy is the earliest sharer's."
        + (
            f" The first {drawn} of {len(trace['nodes'])} copies are drawn; graph.json has all."
            if drawn < len(trace["nodes"])
            else ""
        )
        + f"</p>{graph_svg(trace)}</section>"
    )
    if chats:
        parts.append("<section><h2>Chats</h2>")
        for chat in chats:
            risk = chat["risk"]
            parts.append(
                f"<h3>{_e(chat['file_name'])}</h3><p>SHA-256 <span class='mono'>{_e(chat['sha256'])}</span>, "
                f"{chat['bytes']} bytes, {chat['messages']} messages; risk <b>{_e(risk.get('risk'))}</b>"
                + (
                    f", threatening side: <b>{_e(risk.get('threatening_side'))}</b>"
                    if risk.get("threatening_side")
                    else ""
                )
                + "</p><table><tr><th>#</th><th>Time</th><th>Author</th><th>Message</th>"
                + "<th>Detector</th></tr>"
            )
            for m in chat["flagged_messages"]:
                parts.append(
                    f"<tr class='flag'><td>{m['index']}</td><td>{_e(m['time'])}</td>"
                    f"<td>{_e(m['author'])}</td>"
                    f"<td>{_e(m['text'])}</td><td>{_e(m['category'])} ({m['score']})</td></tr>"
                )
            parts.append("</table>")
        parts.append("</section>")
    parts.append(
        "<section><h2>Events</h2><table><tr><th>#</th><th>Time</th><th>Kind</th><th>Platform</th>"
        "<th>Content</th><th>Account</th><th>Details</th></tr>"
    )
    for event in events[:MAX_LISTED]:
        b = event["body"]
        detail = (
            f"{b.get('action')}"
            + (f", forwarded from {b['forwarded_from']}" if b.get("forwarded_from") else "")
            if event["kind"] == "report"
            else f"{b.get('signal')} distance {b.get('distance')}"
            if event["kind"] == "match"
            else f"chat {b.get('file_name')} sha256 {b.get('sha256')}"
        )
        parts.append(
            f"<tr><td>{event['seq']}</td><td>{_e(_when(event['at']))}</td><td>{_e(event['kind'])}</td>"
            f"<td>{_e(b.get('platform'))}</td><td>{_e(b.get('content_id'))}</td><td>{_e(b.get('uploader'))}</td>"
            f"<td>{_e(detail)}</td></tr>"
        )
    parts.append("</table>")
    if len(events) > MAX_LISTED:
        parts.append(f"<p>… and {len(events) - MAX_LISTED} more events in events.json.</p>")
    parts.append("</section>")
    parts.append(
        "<section><h2>Chain of custody</h2>"
        f"<p>Every event of this case was written by the stopspread service, at the moment it received "
        f"it, into an append-only log in which each entry holds the SHA-256 of the entry before it. "
        f"The log of case {_e(case)} holds {custody['count']} entries; the hash of the last is "
        f"<span class='mono'>{_e(custody['head'])}</span>. That head was signed "
        f"({_e(_when(custody['checkpoint_at']))}) with the deployment's Ed25519 evidence key "
        f"<span class='mono'>{_e(custody['key_id'])}</span>, whose public key is in "
        "<span class='mono'>public-key.pem</span>.</p>"
        "<p>This bundle lists each of its files with its SHA-256 in <span class='mono'>manifest.json</span>, "
        "signed with the same key (<span class='mono'>manifest.sig</span>). Anyone can check, offline, "
        "that no file was changed and that no event was edited, removed or reordered: "
        "<span class='mono'>stopspread evidence verify bundle.zip --key PUBLISHED_KEY.pem</span>.</p>"
        "<p>Accounts are the platforms' pseudonymous uploader ids; linking them to persons needs the "
        "platforms' records. Inferred links are an analysis, not a platform's statement.</p></section>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)
