"""The local run's report, ``DIR/report.html``: the price page itself, rendered from the run's data.

One renderer, not two: the report is the built page (``web/dist``: ``index.html``, its script and
style sheet) with every file it loads inlined, and a ``window.CRYPTO_LIVE_SNAPSHOT`` set before
its script runs. The snapshot holds the read API's answer to every request the page makes in
snapshot mode (``web/src/api.ts``: the latest prices, and per symbol the every-event window and
the detail view's candle windows), asked of the same handler through the same function-URL code
as the local web server (`FunctionUrl`), while the run's table is still up. The page then draws
from the snapshot instead of fetching, so the file opens from disk with no server and no network.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from .function_url import FunctionUrl

REPORT_NAME = "report.html"
#: The page's requests (web/src/requests.json, which web/src/api.ts reads too); the snapshot's
#: keys must be the paths the page builds from it, character for character.
REQUESTS = json.loads((Path(__file__).resolve().parents[1] / "web" / "src" /
                       "requests.json").read_text())
LATEST_PATH: str = REQUESTS["latest"]
HISTORY_MINUTES: tuple[int, ...] = (REQUESTS["points_minutes"], *REQUESTS["candle_minutes"])

# A tag that loads a file: <script src>, <link href>, <img src> (attributes in any order).
_LOADING_TAG = re.compile(
    r"<(?P<tag>script|link|img)\b(?P<attrs>[^>]*?)\b(?P<attr>src|href)\s*=\s*"
    r"(?P<quote>[\"'])(?P<url>[^\"']*)(?P=quote)(?P<rest>[^>]*)>(?:\s*</script\s*>)?",
    re.IGNORECASE)


class ReportError(RuntimeError):
    """The report could not be made; the message says what was wrong."""


def history_path(symbol: str, minutes: int) -> str:
    """web/src/api.ts's ``historyPath``: ``api/history?symbol=BTCUSDT&minutes=15``."""
    return f"{REQUESTS['history']}?symbol={quote(symbol, safe='')}&minutes={minutes}"


def snapshot_paths(symbols: list[str]) -> list[str]:
    """Every request the page makes in snapshot mode, for these symbols."""
    return [LATEST_PATH, *(history_path(s, m) for s in symbols for m in HISTORY_MINUTES)]


#: Called with (requests answered, requests in all) as the snapshot is taken: at the whole
#: market it asks the API thousands of times.
Progress = Callable[[int, int], None]


def take_snapshot(api: FunctionUrl, *, now_ms: int | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
    """The API's answers to `snapshot_paths`, as the page would fetch them now.

    A 404 (no data for a symbol's window) is left out, as the page reads a missing answer as
    404; any other failure is an error: a report must not hide a broken API."""
    taken_at = int(time.time() * 1000) if now_ms is None else now_ms
    latest = _get(api, LATEST_PATH)
    if latest is None:
        raise ReportError(f"/{LATEST_PATH} answered 404")
    symbols = [price["symbol"] for price in latest["prices"]]
    responses: dict[str, Any] = {LATEST_PATH: latest}
    paths = snapshot_paths(symbols)
    for done, path in enumerate(paths[1:], 2):
        answer = _get(api, path)
        if answer is not None:
            responses[path] = answer
        if progress is not None:
            progress(done, len(paths))
    return {"taken_at": taken_at, "responses": responses}


def _get(api: FunctionUrl, path: str) -> Any:
    response = api.invoke("GET", f"/{path}", [("Accept", "application/json")])
    if response.status == 404:
        return None
    if response.status != 200:
        raise ReportError(f"/{path} answered {response.status}: "
                          f"{response.body[:200].decode(errors='replace')}")
    return json.loads(response.body)


def write_report(directory: Path, api: FunctionUrl, web_root: Path, *,
                 progress: Progress | None = None) -> Path:
    """Write ``directory/report.html`` from the built page and the API's answers now."""
    page = render(web_root, take_snapshot(api, progress=progress))
    path = directory / REPORT_NAME
    path.write_text(page)
    return path


def render(web_root: Path, snapshot: dict[str, Any]) -> str:
    """The page of ``web_root`` as one file: its files inlined, the snapshot set first."""
    index = web_root / "index.html"
    if not index.is_file():
        raise ReportError(f"{index} is missing: run `make web`")
    original = index.read_text()
    # An inline script ignores ``defer``: what ran once the document was parsed runs from the
    # end of the body instead, in the same order (found before inlining: code may say </body>).
    body_end = re.search(r"</body\s*>", original, re.IGNORECASE)
    cut = body_end.start() if body_end else len(original)
    deferred: list[str] = []
    parts = [_LOADING_TAG.sub(lambda match: _inline(web_root, match, deferred), part)
             for part in (original[:cut], original[cut:])]
    html = parts[0] + "".join(deferred) + parts[1]
    at_end = len(parts[0])
    data = json.dumps(snapshot, separators=(",", ":")).replace("<", "\\u003c")
    setter = f"<script>window.CRYPTO_LIVE_SNAPSHOT={data};</script>"
    first = re.search(r"<script\b", html, re.IGNORECASE)  # before every script of the page
    at = first.start() if first else at_end
    return html[:at] + setter + html[at:]


def _inline(web_root: Path, match: re.Match[str], deferred: list[str]) -> str:
    """One loading tag, its file inlined: a script or style element, else a data: URL. A
    deferred script goes to ``deferred`` and leaves nothing in its place."""
    url = match["url"]
    parts = urlsplit(url)
    if parts.scheme == "data" or (match["tag"].lower() == "link" and not _loads(match)):
        return match[0]  # already inline, or a link that loads nothing (rel=canonical...)
    if parts.scheme or parts.netloc:
        raise ReportError(f"the page loads {url} from elsewhere: it must ship every file")
    file = (web_root / parts.path.lstrip("/")).resolve()
    if not file.is_relative_to(web_root.resolve()) or not file.is_file():
        raise ReportError(f"the page loads {url}, which is not a file of {web_root}")
    tag = match["tag"].lower()
    if tag == "script":
        attributes = match["attrs"] + match["rest"]
        later = re.search(r"\b(defer|async)\b|type\s*=\s*[\"']?module", attributes,
                          re.IGNORECASE)
        attributes = _without(attributes, ("src", "defer", "async"))
        code = re.sub(r"</(script)", r"<\\/\1", file.read_text(), flags=re.IGNORECASE)
        element = f"<script{attributes}>{code}</script>"
        if later:
            deferred.append(element)
            return ""
        return element
    if tag == "link" and "stylesheet" in match[0].lower():
        style = re.sub(r"</(style)", r"<\\/\1", file.read_text(), flags=re.IGNORECASE)
        return f"<style>{style}</style>"
    media = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    encoded = base64.b64encode(file.read_bytes()).decode("ascii")
    return match[0].replace(url, f"data:{media};base64,{encoded}")


def _loads(match: re.Match[str]) -> bool:
    rel = re.search(r"\brel\s*=\s*[\"']([^\"']*)[\"']", match[0], re.IGNORECASE)
    kinds = set(rel[1].lower().split()) if rel else set()
    return bool(kinds & {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload",
                         "modulepreload", "manifest"})


def _without(attributes: str, names: tuple[str, ...]) -> str:
    for name in names:
        attributes = re.sub(rf"\s+{name}(\s*=\s*([\"'])[^\"']*\2)?(?=\s|/|$)", "", attributes,
                            flags=re.IGNORECASE)
    return attributes.rstrip("/ ")
