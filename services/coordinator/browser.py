"""The dataset browser: one static, self-contained HTML file written into an
exported dataset folder, made for real sizes (thousands of samples).

The page carries every sample as JSON and draws one page of them at a time
(`?page=`, `?size=`), so opening a 6k-sample dataset costs one JSON parse and
one page of DOM, never 12k <img> elements; thumbnails load lazily
(loading="lazy"). Each sample shows its pair, instruction, labels, the
reviewer's verdict and its provenance: the models and prompt versions behind
it, the seed, and each list a stage adds to the provenance (every
text-to-image round with both prompts, the seeds and the VLM's verdict; the
retrieved photos), laid out as the stage declares it. Below the samples, what the dataset left out
(rejected/rejected.jsonl: reviewers' and stages' rejections, near-duplicates,
samples over their split's target) is browsable the same way, with why and
their images. Text search, split, category, sub-category and left-out-kind
filters apply to both (also from the query string, `browser.html?q=knife&sub=...`,
so a filtered view can be linked). The dataset card (README.md) is shown at
the top, with the run's stage options as the stages' declarations read them. Images are referenced relatively: the folder can be copied or
served as is; no server and no network are needed."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

from google.protobuf import json_format

from mis.v1 import coordinator_pb2
from services.coordinator.stages import provenance_lists, run_options
from services.coordinator.stages.options import RunConfigError

DEFAULT_PAGE_SIZE = 48

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2433}
header{background:#1d2433;color:#fff;padding:12px 20px}
header h1{font-size:20px;margin:0 0 4px}
.counts{font-size:13px;opacity:.85}
.controls{padding:10px 20px;background:#fff;border-bottom:1px solid #d8dbe2;display:flex;flex-wrap:wrap;gap:16px;align-items:center;position:sticky;top:0;z-index:1}
.controls input{width:220px}
.pager{display:flex;gap:8px;align-items:center;padding:8px 20px;font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:14px;padding:8px 20px 16px}
.sample,.rejected-item{background:#fff;border:1px solid #d8dbe2;border-radius:6px;padding:10px}
.rejected-item{border-color:#e0b4ae;background:#fffafa}
.pair{display:flex;gap:6px}
.pair img{width:50%;aspect-ratio:1;object-fit:cover;border-radius:4px;background:#e9ecf1}
.tags{margin:6px 0;font-size:12px}
.tag{display:inline-block;padding:1px 6px;border-radius:8px;background:#e7ecf7;margin-right:4px}
.split-train{background:#dff3e4}.split-easy{background:#fdf1d6}.split-hard{background:#f9dcdc}.split-real{background:#e2ecfb}
.verdict-accepted{background:#cdeed6}.kind{background:#f6d3cd}
.instruction{font-weight:600;margin:4px 0}
details{font-size:12px;margin-top:4px}
.muted{color:#6b7385;font-size:12px}
.provenance table{border-collapse:collapse;margin:4px 0}.provenance td,.provenance th{border:1px solid #e1e4ea;padding:2px 4px;text-align:left;vertical-align:top}
section h2{font-size:17px;margin:14px 20px 0}
#card,#run-options{margin:10px 20px;background:#fff;border:1px solid #d8dbe2;border-radius:6px;padding:6px 12px;font-size:13px}
#card table,#run-options table{border-collapse:collapse}#card td,#card th,#run-options td,#run-options th{border:1px solid #e1e4ea;padding:2px 6px}
#card pre{background:#f4f5f7;padding:6px;overflow:auto;max-height:320px}
"""

_SCRIPT = r"""
const data = JSON.parse(document.getElementById('browser-data').textContent);
const params = new URLSearchParams(location.search);
const controls = {q: 'q', split: 'split', category: 'category', sub: 'sub', kind: 'kind'};
for (const [param, id] of Object.entries(controls)) {
  if (params.has(param)) document.getElementById(id).value = params.get(param);
}
const size = Math.max(1, parseInt(params.get('size') || data.page_size, 10));
const pages = {samples: Math.max(0, parseInt(params.get('page') || '1', 10) - 1), rejected: 0};
const accepted = new Set(data.accepted);
for (const list of [data.samples, data.rejected]) {
  for (const row of list) {
    row._text = [row.id, row.instruction, row.category, row.sub_category, row.harmful_query,
                 row.kind || '', row.reason || '', row.note || ''].join(' ').toLowerCase();
  }
}
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}
function tag(text, extra) { return el('span', {class: 'tag' + (extra ? ' ' + extra : '')}, text); }
function table(head, rows) {
  return el('table', {}, el('tr', {}, ...head.map(h => el('th', {}, h))),
            ...rows.map(r => el('tr', {}, ...r.map(c => el('td', {}, String(c))))));
}
function provenance(row) {
  const p = row.provenance || {models: [], review: {}};
  const box = el('details', {class: 'provenance'}, el('summary', {}, 'provenance'));
  box.append(el('div', {}, 'seed: ' + (p.seed_id || row.seed_id || '')));
  if (p.models && p.models.length) {
    box.append(table(['stage', 'backend', 'model', 'prompt version', 'parameters'],
                     p.models.map(m => [m.stage, m.backend, m.model, m.prompt_version, m.parameters || ''])));
  }
  // Each stage's provenance lists, laid out as the stage declares them (ProvenanceList.table).
  for (const list of data.lists) {
    const entries = p[list.name] || [];
    if (!entries.length) continue;
    box.append(el('div', {}, list.title));
    box.append(table(list.columns.map(c => c.heading), entries.map(entry => list.columns.map(c =>
      c.fields.map(f => entry[f]).filter(v => v !== '' && v !== null && v !== undefined).join(' / ')))));
  }
  if (p.review && p.review.decision) {
    box.append(el('div', {class: 'reviewer'}, "reviewer's decision: " + p.review.decision +
                  (p.review.note ? ' (' + p.review.note + ')' : '')));
  }
  return box;
}
function pair(row) {
  if (!row.image_path1) return el('div', {class: 'muted'}, 'never drawn');
  return el('div', {class: 'pair'},
    el('img', {src: row.image_path1, alt: 'image 1 of ' + row.id, loading: 'lazy', decoding: 'async'}),
    el('img', {src: row.image_path2, alt: 'image 2 of ' + row.id, loading: 'lazy', decoding: 'async'}));
}
function text(label, value) {
  return value ? el('details', {}, el('summary', {}, label), value) : null;
}
function attrs(kind, row) {
  return {class: kind, 'data-id': row.id, 'data-split': row.split || '', 'data-category': row.category || '',
          'data-sub': row.sub_category || ''};
}
function sampleCard(row) {
  const verdict = (row.provenance && row.provenance.review && row.provenance.review.decision === 'accept') ||
                  accepted.has(row.id) ? 'accepted' : '';
  return el('article', attrs('sample', row), pair(row),
    el('div', {class: 'tags'}, tag(row.split, 'split-' + row.split), tag(row.category), tag(row.sub_category),
       verdict ? tag('review: ' + verdict, 'verdict-' + verdict) : null),
    el('div', {class: 'instruction'}, row.instruction),
    el('div', {class: 'muted'}, row.id),
    text('harmful query', row.harmful_query), text('filter reason', row.filter_reason),
    text('CoT label', row.cot_label), provenance(row));
}
function rejectedCard(row) {
  return el('article', attrs('rejected-item', row), pair(row),
    el('div', {class: 'tags'}, tag(row.kind, 'kind'), row.split ? tag(row.split, 'split-' + row.split) : null,
       row.category ? tag(row.category) : null, row.sub_category ? tag(row.sub_category) : null),
    el('div', {class: 'instruction'}, row.instruction || row.harmful_query),
    el('div', {class: 'muted'}, el('b', {}, row.id), ' ', row.reason + ': ',
       el('span', {class: 'note'}, row.note || 'no note'),
       row.stage ? ' (at ' + row.stage + ')' : '', row.duplicate_of ? ' — duplicate of ' : '',
       row.duplicate_of ? el('a', {class: 'original', href: '?q=' + encodeURIComponent(row.duplicate_of)},
                             row.duplicate_of) : null),
    text('filter reason', row.filter_reason), provenance(row));
}
function filter() {
  // The controls are read once per draw, not once per row.
  const value = id => document.getElementById(id).value;
  const q = value('q').trim().toLowerCase(), split = value('split'), category = value('category'),
        sub = value('sub'), kind = value('kind');
  return (row, isRejected) => (!q || row._text.includes(q)) && (!split || (row.split || '') === split) &&
    (!category || (row.category || '') === category) && (!sub || (row.sub_category || '') === sub) &&
    (!isRejected || !kind || row.kind === kind);
}
function pager(name, page, count, total) {
  const box = document.getElementById(name + '-pager');
  const last = Math.max(0, Math.ceil(count / size) - 1);
  box.replaceChildren(
    el('button', page > 0 ? {'data-to': page - 1} : {disabled: ''}, '‹ previous'),
    el('span', {class: 'page'}, 'page ' + (page + 1) + ' of ' + (last + 1)),
    el('button', page < last ? {'data-to': page + 1} : {disabled: ''}, 'next ›'));
  for (const button of box.querySelectorAll('button[data-to]')) {
    button.addEventListener('click', () => { pages[name] = parseInt(button.dataset.to, 10); draw(); });
  }
  return Math.min(page, last);
}
function drawList(name, list, isRejected, make, matches) {
  const shown = list.filter(row => matches(row, isRejected));
  const page = pages[name] = pager(name, pages[name], shown.length, list.length);
  const target = document.getElementById(name);
  target.replaceChildren(...shown.slice(page * size, (page + 1) * size).map(make));
  return shown.length;
}
function draw() {
  const matches = filter();
  const shown = drawList('samples', data.samples, false, sampleCard, matches);
  document.getElementById('shown').textContent = shown + ' of ' + data.samples.length + ' shown';
  if (data.rejected.length) {
    const left = drawList('rejected', data.rejected, true, rejectedCard, matches);
    document.getElementById('rejected-shown').textContent = left + ' of ' + data.rejected.length + ' shown';
  }
  window.drawnAt = performance.now();
}
// The browser's own API, for links and tests: goTo(page) shows that page of samples.
window.goTo = page => { pages.samples = page - 1; draw(); return pages.samples + 1; };
for (const id of Object.values(controls)) {
  document.getElementById(id).addEventListener('input', () => { pages.samples = 0; pages.rejected = 0; draw(); });
}
draw();
window.firstRenderAt = window.drawnAt;
"""


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)


def card_html(readme: str) -> str:
    """The card's Markdown (the subset render_card writes: headings, tables,
    quotes, lists, code blocks, paragraphs) as HTML, front matter left out."""
    body = re.sub(r"\A---\n.*?\n---\n", "", readme, count=1, flags=re.DOTALL)
    out: list[str] = []
    lines = body.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            end = next((n for n in range(index + 1, len(lines)) if lines[n].startswith("```")), len(lines))
            out.append("<pre>" + html.escape("\n".join(lines[index + 1:end])) + "</pre>")
            index = end + 1
            continue
        if line.startswith("|"):
            rows = []
            while index < len(lines) and lines[index].startswith("|"):
                cells = [c.strip() for c in lines[index].strip().strip("|").split("|")]
                if not all(set(c) <= {"-", ":"} for c in cells):
                    rows.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>")
                index += 1
            out.append("<table>" + "".join(rows) + "</table>")
            continue
        heading = re.match(r"(#{1,4}) (.*)", line)
        if heading:
            level = len(heading.group(1)) + 1
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif line.startswith("> "):
            out.append(f"<blockquote>{_inline(line[2:])}</blockquote>")
        elif line.startswith("- "):
            out.append(f"<li>{_inline(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        index += 1
    return "".join(out)


def run_options_html(card: dict) -> str:
    """The stages' own options of the run the dataset came from (the card's
    `run_config`), each as its stage reads it, from the stages' declarations;
    empty for a dataset with no run config (an imported one)."""
    written = card.get("run_config")
    if not written:
        return ""
    try:
        config = json_format.ParseDict(written, coordinator_pb2.RunConfig(), ignore_unknown_fields=True)
        found = run_options(config)
    except (json_format.ParseError, RunConfigError):
        return ""
    e = html.escape
    rows = "".join(f"<tr><td>{e(key)}</td><td>{e(name)}</td><td>{e(json.dumps(value.value))}</td>"
                   f"<td>{'' if value.given else 'default'}</td></tr>"
                   for key, options in found.items() for name, value in options.items())
    return (f'<details id="run-options"><summary>run options</summary><table><tr><th>stage</th>'
            f'<th>option</th><th>value</th><th></th></tr>{rows}</table></details>')


def _data(rows: list[dict], rejected: list[dict], card: dict) -> str:
    accepted = card.get("review", {}).get("accepted", [])
    payload = {"samples": rows, "rejected": rejected, "accepted": accepted, "page_size": DEFAULT_PAGE_SIZE,
               "lists": [listed.table() for listed in provenance_lists()]}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def render_browser(rows: list[dict], card: dict, rejected: list[dict] | None = None, readme: str = "") -> str:
    """The page for `rows` (samples.jsonl), `rejected` (rejected.jsonl) and the card."""
    e = html.escape
    rejected = list(rejected or [])
    everything = rows + rejected
    splits = sorted({r["split"] for r in everything if r.get("split")})
    categories = sorted({r["category"] for r in everything if r.get("category")})
    subs = sorted({r["sub_category"] for r in everything if r.get("sub_category")})
    kinds = sorted({r["kind"] for r in rejected})
    per_split = ", ".join(f"{s}: {sum(1 for r in rows if r['split'] == s)}" for s in splits)
    options = lambda values: "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)  # noqa: E731
    title = f"{card.get('name', 'MIS dataset')} {card.get('version', '')}".strip()
    card_section = (f'<details id="card"><summary>dataset card</summary>{card_html(readme)}</details>'
                    if readme else "")
    rejected_section = (
        f'<section id="left-out"><h2>Left out of the dataset ({len(rejected)}): reviewers\' and stages\' '
        f'rejections, near-duplicates, over target</h2><div class="pager"><span id="rejected-shown" class="muted">'
        f'</span></div><div class="pager" id="rejected-pager"></div><div class="grid" id="rejected"></div></section>'
        if rejected else "")
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{e(title)}</h1><div class=\"counts\" id=\"counts\">{len(rows)} samples "
        f"({e(per_split)}); {len(rejected)} left out</div></header>{card_section}{run_options_html(card)}"
        f"<div class=\"controls\"><label>search <input id=\"q\" type=\"search\" "
        f"placeholder=\"instruction, id, category, reason\"></label><label>split <select id=\"split\">"
        f"<option value=\"\">all</option>{options(splits)}</select></label><label>category <select id=\"category\">"
        f"<option value=\"\">all</option>{options(categories)}</select></label>"
        f"<label>sub-category <select id=\"sub\"><option value=\"\">all</option>{options(subs)}</select></label>"
        f"<label>left out as <select id=\"kind\"><option value=\"\">any</option>{options(kinds)}</select></label>"
        f"<span id=\"shown\" class=\"muted\"></span></div>"
        f"<div class=\"pager\" id=\"samples-pager\"></div><main class=\"grid\" id=\"samples\"></main>"
        f"{rejected_section}"
        f"<script type=\"application/json\" id=\"browser-data\">{_data(rows, rejected, card)}</script>"
        f"<script>{_SCRIPT}</script></body></html>")


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_browser(dataset_root: Path, output: Path | None = None) -> Path:
    """Write browser.html for an exported dataset folder; return its path."""
    root = Path(dataset_root)
    rows = _jsonl(root / "samples.jsonl")
    rejected = _jsonl(root / "rejected" / "rejected.jsonl")
    card_path, readme_path = root / "card.json", root / "README.md"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    readme = readme_path.read_text() if readme_path.is_file() else ""
    target = output or root / "browser.html"
    if target.parent.resolve() != root.resolve():
        # Image paths are relative to the dataset root: rebase them for another folder.
        prefix = os.path.relpath(root.resolve(), target.parent.resolve())
        rebase = lambda r: {**r, **{k: f"{prefix}/{r[k]}" for k in ("image_path1", "image_path2") if r.get(k)}}  # noqa: E731
        rows, rejected = [rebase(r) for r in rows], [rebase(r) for r in rejected]
    target.write_text(render_browser(rows, card, rejected, readme))
    return target
