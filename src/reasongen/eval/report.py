"""`reasongen report`: one static, self-contained HTML page from result files.

It reads what the evaluation commands write, and tells them apart by their keys:
- `eval geneval --out`: a GenEval summary (`overall`, `tags`, `tag_counts`); its samples are the
  folder the summary names (`folder`) or the folder beside it with the same name (A.json, A/);
- a GenEval output folder itself (`sample geneval --outdir`), scored here;
- `eval video --out`: `{"summary": ..., "clips": [...]}`; its strips are the folder it names (or the
  folder beside it with the same name);
- `eval fox --out`: FoX's held-out measures (`reflection`, `task_losses`, `plans`);
- a run's `log.jsonl` (or the run folder holding it): the learning or reward curve.

The page holds per-tag tables side by side, paired differences against the first result with their
p-values (eval/stats.py), the curves, and a grid of samples per prompt. Images are inline data URIs,
so the file can be mailed or committed alone. `write_figures` writes the same sections' pictures as
PNG files (the sample grid, the video strips under the benchmark's own clips, the curves): the docs'
figures.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..images import enlarge, save_png, side_by_side, stack
from .stats import paired_verdicts, sign_test

VIDEO_METRICS = ("text_consistency", "event_consistency", "image_at_anchor", "image_best_frame", "motion_smoothness",
                 "dynamic", "palette_fidelity", "anchor_correct")  # fmt: skip
CURVE_SKIP = ("step", "lr", "sec_per_step", "samples_seen", "epoch")  # logged numbers that are not a quality


@dataclass
class Source:
    """One result file, read."""

    path: Path
    kind: str  # geneval, video, fox or log
    label: str
    data: dict | list
    samples: Path | None = None  # geneval: the samples folder; video: the strips folder
    verdicts: dict[str, bool] = field(default_factory=dict)  # geneval: sample name -> correct (when rescored)
    rows: list[dict] = field(default_factory=list)  # geneval: per-image rows


def read_source(path: str | Path, label: str | None = None) -> Source:
    """A result file (or a run folder with log.jsonl), recognised by its contents; anything else is
    refused with what the report reads."""
    path = Path(path)
    if path.is_dir() and (path / "log.jsonl").is_file():
        path = path / "log.jsonl"
    if path.is_dir() and any((p / "metadata.jsonl").is_file() for p in path.iterdir() if p.name.isdigit()):
        return Source(path, "geneval", label or path.name, {}, path)  # its summary comes from `rescore`
    if not path.is_file():
        raise ValueError(f"{path}: no such file; pass the JSON of `eval geneval --out`, `eval video --out` or `eval fox --out`, "
                         "a GenEval output folder, or a run's log.jsonl")  # fmt: skip
    label = label or (path.parent.name if path.name == "log.jsonl" else path.stem)
    text = path.read_text()
    if path.suffix == ".jsonl":
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: line {e.lineno} is not JSON; pass a run's log.jsonl") from None
        if not rows or not all(isinstance(r, dict) and "step" in r for r in rows):
            raise ValueError(f"{path}: not a training log (each line a JSON object with a `step`)")
        return Source(path, "log", label, rows)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    if isinstance(data, dict) and {"overall", "tags", "tag_counts"} <= data.keys():
        folder = Path(data["folder"]) if data.get("folder") else path.with_suffix("")
        return Source(path, "geneval", label, data, folder if folder.is_dir() else None)
    if isinstance(data, dict) and {"summary", "clips"} <= data.keys():
        folder = Path(data["summary"]["folder"]) if data["summary"].get("folder") else path.with_suffix("")
        return Source(path, "video", label, data, folder if (folder / "info.json").is_file() else None)
    if isinstance(data, dict) and {"reflection", "task_losses"} <= data.keys():
        return Source(path, "fox", label, data)
    raise ValueError(f"{path}: not a result this report reads (the JSON of `eval geneval --out`, `eval video --out` or "
                     "`eval fox --out`)")  # fmt: skip


def rescore(source: Source, workers: int = 1, progress: bool = False) -> None:
    """Score a GenEval summary's samples again, image by image, for the paired tests and the grids
    (the summary keeps only the totals). Its options (thresholds) are the summary's own. A folder
    given alone is scored with the ShapesWorld detector, and that is its summary."""
    from .run import evaluate_folder

    if source.kind != "geneval" or source.samples is None:
        return
    rows, summary = evaluate_folder(source.samples, source.data.get("detector", "shapes"), None, source.data.get("options"),
                                    workers=workers, progress=progress)  # fmt: skip
    for row in rows:
        row["name"] = Path(row["filename"]).relative_to(source.samples).as_posix()
    source.rows = rows
    source.verdicts = {row["name"]: bool(row["correct"]) for row in rows}
    if not source.data:
        source.data = {**summary, "folder": str(source.samples)}


# -- the page --------------------------------------------------------------------------------------


CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; }
.best { font-weight: 700; }
.small { color: #666; font-size: 0.9em; }
.grid td { vertical-align: top; text-align: left; white-space: nowrap; }
.grid img { width: 80px; height: 80px; image-rendering: pixelated; margin: 1px; border: 3px solid transparent; }
.grid img.pass { border-color: #2e7d32; } .grid img.fail { border-color: #c62828; }
.strip img { height: 48px; image-rendering: pixelated; display: block; margin: 2px 0; }
"""


def _e(x) -> str:
    return html.escape(str(x))


def _num(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return _e(v)


def _table(header: list[str], rows: list[list], best: str | None = None, caption: str = "") -> str:
    """An HTML table; `best` ("max" or "min") marks each row's best number across the result columns."""
    out = ["<table>"]
    if caption:
        out.append(f"<caption class='small'>{_e(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead><tbody>")
    for row in rows:
        values = [v for v in row[1:] if isinstance(v, (int, float)) and not isinstance(v, bool)]
        mark = (max(values) if best == "max" else min(values)) if best and len(set(values)) > 1 else None
        cells = [f"<td>{_e(row[0])}</td>"]
        for v in row[1:]:
            cls = " class='best'" if mark is not None and v == mark else ""
            cells.append(f"<td{cls}>{_num(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _png_uri(path_or_bytes) -> str:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _array_uri(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return _png_uri(buf.getvalue())


def geneval_section(sources: list[Source]) -> str:
    labels = [s.label for s in sources]
    tags = list(dict.fromkeys(t for s in sources for t in s.data["tags"]))
    rows = [[tag, *[s.data["tags"].get(tag) for s in sources]] for tag in tags]
    rows.append(["overall (mean of tags)", *[s.data["overall"] for s in sources]])
    for split in ("seen", "unseen"):
        if any(split in s.data.get("compositions", {}) for s in sources):
            rows.append([f"{split} compositions", *[s.data.get("compositions", {}).get(split, {}).get("overall") for s in sources]])
    for split in dict.fromkeys(k for s in sources for k in s.data.get("splits", {})):
        rows.append([split, *[s.data.get("splits", {}).get(split) for s in sources]])
    rows.append(["% correct images", *[s.data["correct_images"] for s in sources]])
    rows.append(["% correct prompts", *[s.data["correct_prompts"] for s in sources]])
    counts = [["images", *[s.data["n_images"] for s in sources]], ["prompts", *[s.data["n_prompts"] for s in sources]]]
    parts = ["<h2>GenEval by tag</h2>", _table(["tag", *labels], rows, best="max"), _table(["", *labels], counts)]
    detectors = {s.data.get("detector", "?") for s in sources}
    parts.append(f"<p class='small'>Detector: {_e(', '.join(sorted(detectors)))}. Bold: the best of a row.</p>")
    parts.append(paired_section(sources))
    return "\n".join(parts)


def paired_section(sources: list[Source]) -> str:
    """Each result against the first, on the samples both hold (same prompts, same seeds)."""
    base = sources[0]
    if len(sources) < 2:
        return ""
    out = ["<h3>Paired differences against " + _e(base.label) + "</h3>"]
    if not base.verdicts:
        return out[0] + f"<p>{_e(base.label)}: its samples folder was not found (`folder` in the JSON, or {_e(base.path.with_suffix(''))}/), so no paired test.</p>"
    header = ["compared", "tag", "images", "correct before", "correct after", "fixed", "broken", "McNemar p",
              "prompts better", "prompts worse", "prompt sign p"]  # fmt: skip
    rows = []
    for other in sources[1:]:
        if not other.verdicts:
            rows.append([other.label, "(samples folder not found)", *[None] * 9])
            continue
        tag_of = {r["name"]: r["tag"] for r in base.rows}
        for tag in [None, *dict.fromkeys(tag_of.values())]:
            keep = [n for n in base.verdicts if tag is None or tag_of[n] == tag]
            p = paired_verdicts({n: base.verdicts[n] for n in keep}, {n: other.verdicts[n] for n in keep if n in other.verdicts})
            if p["images"] == 0:
                continue
            rows.append([other.label, tag or "all", p["images"], p["correct_before"], p["correct_after"], p["fixed"], p["broken"],
                         p["mcnemar_p"], p["prompts_better"], p["prompts_worse"], p["prompt_sign_p"]])  # fmt: skip
    note = ("<p class='small'>Fixed: correct only in the compared result; broken: only in the first. McNemar's exact test "
            "takes the samples as independent; the prompt sign test counts prompts whose samples the compared result "
            "gets right more (or less) often, for the samples of one prompt are not independent.</p>")  # fmt: skip
    return "\n".join(out) + _table(header, rows) + note


def chosen_prompts(sources: list[Source], prompts: int = 12, indices: list[int] | None = None) -> list[str]:
    """The prompt folders the sample grid shows: `indices` (the folders' 00000, 00001, ...), or
    `prompts` spread evenly over the first result's prompts (and so over the tags, which the
    benchmarks keep in blocks)."""
    with_samples = [s for s in sources if s.samples is not None]
    if not with_samples:
        return []
    names = sorted(_prompt_folders(with_samples[0].samples))
    if indices is not None:
        missing = [i for i in indices if f"{i:05d}" not in names]
        if missing:
            raise ValueError(f"prompt {missing[0]}: {with_samples[0].samples} holds prompts 0 to {len(names) - 1}")
        return [f"{i:05d}" for i in indices]
    step = max(1, len(names) // prompts) if prompts else 1
    return names[::step][:prompts]


def _grid_cells(sources: list[Source], chosen: list[str], per_prompt: int):
    """Per chosen prompt: its metadata, and per result with samples the first `per_prompt` samples as
    (path, name in the folder, verdict or None)."""
    with_samples = [s for s in sources if s.samples is not None]
    folders = {s.label: _prompt_folders(s.samples) for s in with_samples}
    first = folders[with_samples[0].label]
    for name in chosen:
        cells = []
        for s in with_samples:
            folder = folders[s.label].get(name)
            paths = (folder[1] if folder else [])[:per_prompt]
            names = [p.relative_to(s.samples).as_posix() for p in paths]
            cells.append([(p, n, s.verdicts.get(n)) for p, n in zip(paths, names)])
        yield first[name][0], cells


def grid_section(sources: list[Source], chosen: list[str], per_prompt: int = 4) -> str:
    """Samples per prompt, one row a prompt, one column a result; a green frame passes GenEval's rule, a red one fails."""
    with_samples = [s for s in sources if s.samples is not None]
    if not with_samples or not chosen:
        return ""
    out = ["<h2>Samples per prompt</h2>", "<table class='grid'><thead><tr><th>prompt</th>"]
    out += [f"<th>{_e(s.label)}</th>" for s in with_samples] + ["</tr></thead><tbody>"]
    for meta, cells in _grid_cells(sources, chosen, per_prompt):
        out.append(f"<tr><td>{_e(meta['prompt'])}<br><span class='small'>{_e(meta['tag'])}</span></td>")
        for result in cells:
            imgs = [f"<img class='{ {True: 'pass', False: 'fail'}.get(ok, '') }' src='{_png_uri(p)}' alt='{_e(n)}' title='{_e(n)}'>"
                    for p, n, ok in result]  # fmt: skip
            out.append("<td>" + "".join(imgs) + "</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


# the figures' frames: GenEval's verdict (as the page's green and red), or none known
FRAME = {True: (46, 125, 50), False: (198, 40, 40), None: (255, 255, 255)}
FRAME_PX, LINE_PX, BLOCK_PX, TEXT_PX = 3, 2, 20, 14


def _text_image(lines: list[str], width: int | None = None, height: int | None = None, at: str = "left") -> np.ndarray:
    """Lines of black text on white (PIL's built-in font), TEXT_PX a line, as a uint8 image."""
    from PIL import Image, ImageDraw

    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    need = max([int(measure.textlength(t)) for t in lines] + [0]) + 8
    width = max(width or 0, need)
    canvas = Image.new("RGB", (width, height or TEXT_PX * len(lines) + 4), "white")
    draw = ImageDraw.Draw(canvas)
    for k, text in enumerate(lines):
        x = 4 if at == "left" else (width - int(draw.textlength(text))) // 2
        y = 2 + TEXT_PX * k if height is None else (height - TEXT_PX * len(lines)) // 2 + TEXT_PX * k
        draw.text((x, y), text, fill="black")
    return np.asarray(canvas)


def _tile(path: Path, scale: int, verdict: bool | None) -> np.ndarray:
    """A sample `scale` times enlarged in a FRAME_PX frame of its verdict's colour."""
    from PIL import Image

    image = enlarge(np.asarray(Image.open(path).convert("RGB")), scale)
    tile = np.empty((image.shape[0] + 2 * FRAME_PX, image.shape[1] + 2 * FRAME_PX, 3), np.uint8)
    tile[:] = FRAME[verdict]
    tile[FRAME_PX:-FRAME_PX, FRAME_PX:-FRAME_PX] = image
    return tile


def grid_figure(sources: list[Source], chosen: list[str], per_prompt: int = 4, scale: int = 2) -> np.ndarray:
    """The sample grid as one picture: one row a prompt (numbered on the left, named under the grid),
    one block a result (its label above), each result's first `per_prompt` samples of the prompt
    `scale` times enlarged, in a frame green where GenEval's rule passes and red where it fails."""
    with_samples = [s for s in sources if s.samples is not None]
    rows = [(meta, [side_by_side([_tile(p, scale, ok) for p, _, ok in result], gap=LINE_PX) if result
                    else np.full((1, 1, 3), 255, np.uint8) for result in cells])
            for meta, cells in _grid_cells(sources, chosen, per_prompt)]  # fmt: skip
    labels = [_text_image([s.label], at="centre") for s in with_samples]
    width = max([b.shape[1] for _, blocks in rows for b in blocks] + [lab.shape[1] for lab in labels])
    height = max(b.shape[0] for _, blocks in rows for b in blocks)
    numbers = _text_image([str(len(rows))])
    header = [np.full((numbers.shape[0], numbers.shape[1], 3), 255, np.uint8)] + [_text_image([s.label], width, at="centre")
                                                                                 for s in with_samples]  # fmt: skip
    # the blocks of a column start where its label does: each block padded to the widest
    body = [side_by_side([_text_image([str(k + 1)], numbers.shape[1], height),
                          *[np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks]], gap=BLOCK_PX)
            for k, (_, blocks) in enumerate(rows)]  # fmt: skip
    legend = _text_image([f"{k + 1}: {meta['prompt']} ({meta['tag']})" for k, (meta, _) in enumerate(rows)])
    return stack([side_by_side(header, gap=BLOCK_PX), stack(body, gap=LINE_PX + 4), legend], gap=LINE_PX)


def _prompt_folders(root: Path) -> dict[str, tuple[dict, list[Path]]]:
    """{prompt folder name: (metadata, sample paths)} of a GenEval output folder (already scored, so
    already checked: any detector's classes and image sizes)."""
    from .layout import SAMPLE_NAME

    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        meta = json.loads((folder / "metadata.jsonl").read_text(encoding="utf-8"))
        samples = sorted(p for p in (folder / "samples").iterdir() if SAMPLE_NAME.fullmatch(p.name))
        out[folder.name] = (meta, samples)
    return out


def chosen_cases(sources: list[Source], cases: list[int] | None = None, count: int = 6) -> list[int]:
    """The cases whose strips are shown: `cases` (refused where a result holds no strip of one), or
    the first `count`."""
    shown = [s for s in sources if s.samples is not None]
    if cases is None:
        return list(range(count))
    for s in shown:
        missing = [i for i in cases if not (s.samples / f"{i:04d}.png").is_file()]
        if missing:
            raise ValueError(f"case {missing[0]}: {s.samples} holds no strip {missing[0]:04d}.png")
    return list(cases)


def _benchmark_clips(sources: list[Source], cases: list[int]) -> dict[int, tuple[np.ndarray, str]] | None:
    """The benchmark's own clip of each case (its frames side by side, at the strips' frame size) and
    what the case asks for; None when the strips' benchmark cannot be read."""
    from PIL import Image

    from ..world.benchmarks import read_video_cases

    shown = [s for s in sources if s.samples is not None]
    names = {json.loads((s.samples / "info.json").read_text()).get("benchmark") for s in shown}
    if len(names) != 1:  # results of different benchmarks: no one row of truth
        return None
    try:
        benchmark = read_video_cases(names.pop())
    except (ValueError, TypeError, OSError):
        return None
    out = {}
    for i in cases:
        path = next((s.samples / f"{i:04d}.png" for s in shown if (s.samples / f"{i:04d}.png").is_file()), None)
        if path is None or i >= len(benchmark):
            continue
        case = benchmark[i]
        size = Image.open(path).height
        out[i] = (side_by_side(list(case.clip.render(size))), f"case {i}: {case.text} (the image is frame {case.anchor})")
    return out


def video_section(sources: list[Source], cases: list[int] | None = None) -> str:
    labels = [s.label for s in sources]
    summary_rows = [[k, *[s.data["summary"].get(k) for s in sources]] for k in VIDEO_METRICS]
    summary_rows.append(["clips", *[s.data["summary"].get("clips") for s in sources]])
    info = [[k, *[s.data["summary"].get(k) for s in sources]] for k in ("benchmark", "model", "conditioning", "narrator", "enhanced", "multi_frame")]
    out = ["<h2>Video (ReasonDiff)</h2>", _table(["metric", *labels], summary_rows, best="max"), _table(["", *labels], info)]
    events = list(dict.fromkeys(c["event"] for s in sources for c in s.data["clips"]))
    by_event = []
    for event in events:
        row = [event]
        for s in sources:
            vals = [c["event_consistency"] for c in s.data["clips"] if c["event"] == event and c["event_consistency"] is not None]
            row.append(sum(vals) / len(vals) if vals else None)
        by_event.append(row)
    out += ["<h3>Event consistency by event</h3>", _table(["event", *labels], by_event, best="max")]
    if len(sources) > 1:
        base = {c["index"]: c for c in sources[0].data["clips"]}
        rows = []
        for other in sources[1:]:
            pairs = [(base[c["index"]], c) for c in other.data["clips"] if c["index"] in base]
            for k in VIDEO_METRICS:
                kept = [(a[k], b[k]) for a, b in pairs if a.get(k) is not None and b.get(k) is not None]
                if kept:
                    t = sign_test([float(a) for a, _ in kept], [float(b) for _, b in kept])
                    rows.append([other.label, k, t["pairs"], t["higher"], t["lower"], t["sign_p"]])
        out += [f"<h3>Paired differences against {_e(sources[0].label)} (same cases)</h3>",
                _table(["compared", "metric", "clips", "higher", "lower", "sign p"], rows),
                ("<p class='small'>A clip counts as higher or lower when the compared result's score of that clip is; "
                 "ties are left out of the exact sign test.</p>")]  # fmt: skip
    shown = [s for s in sources if s.samples is not None]
    if shown:
        cases = chosen_cases(sources, cases)
        truth = _benchmark_clips(sources, cases) or {}
        out.append("<h3>Clips (one strip a case, frames left to right)</h3><table class='grid'><thead><tr><th>case</th>"
                   + ("<th>benchmark</th>" if truth else "") + "".join(f"<th>{_e(s.label)}</th>" for s in shown)
                   + "</tr></thead><tbody>")  # fmt: skip
        for i in cases:
            cells = []
            if truth:
                cells.append(f"<td class='strip'><img src='{_array_uri(truth[i][0])}' alt='case {i}, the benchmark'></td>"
                             if i in truth else "<td>-</td>")  # fmt: skip
            for s in shown:
                path = s.samples / f"{i:04d}.png"
                cells.append(f"<td class='strip'><img src='{_png_uri(path)}' alt='case {i}'></td>" if path.is_file() else "<td>-</td>")
            text = f"<br><span class='small'>{_e(truth[i][1].split(': ', 1)[1])}</span>" if i in truth else ""
            out.append(f"<tr><td>{i}{text}</td>{''.join(cells)}</tr>")
        out.append("</tbody></table>")
    return "\n".join(out)


def strips_figure(sources: list[Source], cases: list[int], scale: int = 1) -> np.ndarray:
    """The video strips as one picture: per case a line saying what it asks for, the benchmark's own
    clip, then each result's strip, `scale` times enlarged, each row named on the left."""
    from PIL import Image

    shown = [s for s in sources if s.samples is not None]
    truth = _benchmark_clips(sources, cases) or {}
    names = (["benchmark"] if truth else []) + [s.label for s in shown]
    label_width = max(_text_image([n]).shape[1] for n in names)
    groups = []
    for i in cases:
        strips = ([("benchmark", truth[i][0])] if i in truth else []) + [
            (s.label, np.asarray(Image.open(s.samples / f"{i:04d}.png").convert("RGB"))) for s in shown if (s.samples / f"{i:04d}.png").is_file()]
        rows = [side_by_side([_text_image([label], label_width, strip.shape[0] * scale), enlarge(strip, scale)]) for label, strip in strips]
        groups.append(stack([_text_image([truth[i][1] if i in truth else f"case {i}"]), *rows], gap=LINE_PX))
    return stack(groups, gap=3 * LINE_PX)


def fox_section(sources: list[Source]) -> str:
    labels = [s.label for s in sources]
    keys = list(dict.fromkeys(k for s in sources for k, v in s.data["reflection"].items() if not isinstance(v, dict)))
    reflection = [[k, *[s.data["reflection"].get(k) for s in sources]] for k in keys]
    losses = [[k, *[s.data["task_losses"].get(k) for s in sources]] for k in dict.fromkeys(k for s in sources for k in s.data["task_losses"])]
    plans = [[t, *[s.data.get("plans", {}).get("tags", {}).get(t) for s in sources]]
             for t in dict.fromkeys(t for s in sources for t in s.data.get("plans", {}).get("tags", {}))]  # fmt: skip
    plans.append(["overall", *[s.data.get("plans", {}).get("overall") for s in sources]])
    return "\n".join(["<h2>FoX (multimodal chain of thought): held-out measures</h2>",
                      "<h3>Reflection</h3>", _table(["measure", *labels], reflection),
                      "<h3>Task losses (lower is better)</h3>", _table(["task", *labels], losses, best="min"),
                      "<h3>Plans judged alone by GenEval's rules</h3>", _table(["tag", *labels], plans, best="max")])  # fmt: skip


def curves_png(sources: list[Source]) -> bytes | None:
    """Each logged quality (loss, reward, ...) against the step, one panel a quantity, one line a run
    (PNG bytes; None when the logs hold no such number)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys(k for s in sources for r in s.data for k, v in r.items()
                              if k not in CURVE_SKIP and isinstance(v, (int, float)) and not isinstance(v, bool)))  # fmt: skip
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for s in sources:
            points = [(r["step"], r[key]) for r in s.data if isinstance(r.get(key), (int, float))]
            if points:
                ax.plot(*zip(*points), label=s.label)
        ax.set(xlabel="step", title=key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def curves_section(sources: list[Source]) -> str:
    png = curves_png(sources)
    if png is None:
        return ""
    runs = ", ".join(f"{s.label} ({_e(s.path)})" for s in sources)
    return f"<h2>Learning and reward curves</h2><img src='{_png_uri(png)}' alt='curves'><p class='small'>{runs}</p>"


def _by_kind(sources: list[Source]) -> dict[str, list[Source]]:
    by_kind = {k: [s for s in sources if s.kind == k] for k in ("geneval", "video", "fox", "log")}
    unscored = [s for s in by_kind["geneval"] if not s.data]
    if unscored:
        raise ValueError(f"{unscored[0].path}: a GenEval folder not scored yet (rescore it first)")
    return by_kind


def build_report(sources: list[Source], title: str = "reasongen report", prompts: int = 12, *, prompt_indices: list[int] | None = None,
                 cases: list[int] | None = None, per_prompt: int = 4) -> str:  # fmt: skip
    """The page's HTML. The sample grid shows `prompt_indices` (or `prompts` spread evenly), each
    result's first `per_prompt` samples of each; the video strips show `cases` (or the first 6)."""
    by_kind = _by_kind(sources)
    files = "".join(f"<li>{_e(s.label)}: <code>{_e(s.path)}</code> ({s.kind}"
                    + (f", samples <code>{_e(s.samples)}</code>" if s.samples else "") + ")</li>" for s in sources)  # fmt: skip
    body = [f"<h1>{_e(title)}</h1>", f"<ul class='small'>{files}</ul>"]
    if by_kind["geneval"]:
        chosen = chosen_prompts(by_kind["geneval"], prompts, prompt_indices)
        body += [geneval_section(by_kind["geneval"]), grid_section(by_kind["geneval"], chosen, per_prompt)]
    if by_kind["video"]:
        body.append(video_section(by_kind["video"], cases))
    if by_kind["fox"]:
        body.append(fox_section(by_kind["fox"]))
    if by_kind["log"]:
        body.append(curves_section(by_kind["log"]))
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")  # fmt: skip


def write_figures(sources: list[Source], folder: str | Path, prompts: int = 12, *, prompt_indices: list[int] | None = None,
                  cases: list[int] | None = None, per_prompt: int = 4, scale: int = 2) -> list[Path]:  # fmt: skip
    """The page's pictures as PNG files in `folder`, for documents: `samples.png` (the sample grid, the
    same prompts and samples as the page's), `clips.png` (the video strips under the benchmark's own
    clips, the same cases) and `curves.png` (the curves), each where the results have that section.
    Samples and frames are `scale` times enlarged. Returns the files written."""
    by_kind = _by_kind(sources)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    genevals = [s for s in by_kind["geneval"] if s.samples is not None]
    chosen = chosen_prompts(genevals, prompts, prompt_indices) if genevals else []
    if chosen:
        written.append(folder / "samples.png")
        save_png(grid_figure(genevals, chosen, per_prompt, scale), written[-1])
    videos = [s for s in by_kind["video"] if s.samples is not None]
    if videos:
        written.append(folder / "clips.png")
        save_png(strips_figure(videos, chosen_cases(videos, cases), scale), written[-1])
    png = curves_png(by_kind["log"]) if by_kind["log"] else None
    if png is not None:
        written.append(folder / "curves.png")
        tmp = written[-1].with_name("curves.png.tmp")
        tmp.write_bytes(png)
        tmp.replace(written[-1])
    return written
