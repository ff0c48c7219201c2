"""Files the dashboard serves that come from installed packages: plotly.js and its stylesheet.

plotly.js draws its charts under any content-security policy but injects its own base
stylesheet (modebar, hover labels, legends) as an inline ``<style>`` element, which
``default-src 'self'`` forbids. plotly.js skips the injection when the page already holds
an element with id ``plotly.js-style-global`` and class ``no-inline-styles``, so the
dashboard links ``/static/plotly.css`` under that id. That stylesheet is the very rule
set the installed bundle would inject: it is read out of ``plotly.min.js`` (the object
literal of selectors and declarations that starts with ``"X,X div"``, with ``X`` standing
for ``.js-plotly-plot .plotly`` and ``Y`` for ``.plotly-notifier``, as the bundle itself
expands them), so it always matches the installed version.

The bundle also carries third-party stylesheets that it injects once on load, each
guarded by the id of the element it would create (maplibre-gl's, for map traces):
:func:`injected_styles` reads them out the same way and the dashboard links each one
under its id, so nothing is injected inline.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

log = logging.getLogger("computefolio.service")

_PAIR = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*:\s*(?:\'((?:[^\'\\]|\\.)*)\'|"((?:[^"\\]|\\.)*)")\s*(,|})')


def plotly_js_path() -> Path:
    """``plotly.min.js`` of the installed ``plotly`` package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def css_from_bundle(text: str) -> str:
    """The base stylesheet plotly.js injects, rebuilt from the bundle's text ('' if not found)."""
    i = text.find('"X,X div":')
    if i < 0:
        return ""
    j = text.rfind("{", 0, i)
    pos, rules = j + 1, []
    while True:
        m = _PAIR.match(text, pos)
        if not m:
            break
        key, value = _unescape(m.group(1)), _unescape(m.group(2) if m.group(2) is not None else m.group(3))
        sel = re.sub(r"^,", " ,", key).replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        rules.append(f"{sel}{{{value}}}")
        pos = m.end()
        if m.group(4) == "}":
            break
    return "\n".join(rules) + ("\n" if rules else "")


_INJECT = re.compile(r'document\.getElementById\("([A-Za-z0-9_-]{8,128})"\)\)\{var (\w+)=document\.createElement\('
                     r'"style"\);?,?\s*\2\.id="\1",\2\.textContent=(\'(?:[^\'\\\\]|\\\\.)*\'|"(?:[^"\\\\]|\\\\.)*")')


@functools.lru_cache(maxsize=1)
def injected_styles() -> tuple[tuple[str, str], ...]:
    """``(element id, stylesheet)`` of each stylesheet the bundle injects on load."""
    try:
        text = plotly_js_path().read_text(encoding="utf-8")
    except OSError:  # pragma: no cover
        return ()
    return tuple((m.group(1), _unescape(m.group(3)[1:-1])) for m in _INJECT.finditer(text))


@functools.lru_cache(maxsize=1)
def plotly_css() -> str:
    """The stylesheet for ``/static/plotly.css`` (see the module docstring)."""
    try:
        css = css_from_bundle(plotly_js_path().read_text(encoding="utf-8"))
    except OSError as exc:  # pragma: no cover - plotly not installed properly
        log.warning("plotly.min.js could not be read (%s): charts draw without plotly's base styles", exc)
        return ""
    if not css:
        log.warning("plotly's base stylesheet was not found in plotly.min.js: charts draw without it")
    return "/* plotly.js base styles, read from the installed plotly.min.js (see computefolio.service.assets) */\n" \
        + css
