"""What every screen of the portal owes its users, checked in the browser: no WCAG 2.1 A/AA
violation that axe-core finds, a visible keyboard focus, and a page that fits a desktop
(1280 px) and a phone (390 px) without scrolling sideways.

With BESPOKE_SCREENSHOTS_DIR set, the screens the README shows are saved there at both
widths, as small palette PNGs (the README's own docs/screenshots/ is the usual target).
"""

from __future__ import annotations

import os
from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
DESKTOP, PHONE = 1280, 390
README_SCREENS = ("05-talent-license-to-sign", "08-talent-approval", "03-desk-verification-review",
                  "09-producer-progress", "legal-audit-log", "23-viewer-player")
FOCUS_OUTLINE_PX = 2
SHOT_HEIGHT = 1800

AXE_RUN = """async tags => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return result.violations.map(v => `${v.id} (${v.help}): ${v.nodes.map(n => n.target.join(' ')).join(' | ')}`);
}"""

# Tab to the first focusable element and measure the outline the keyboard user sees on it.
FOCUS_OUTLINE = """() => {
    const element = document.activeElement, style = getComputedStyle(element);
    return {element: element.outerHTML.slice(0, 80), style: style.outlineStyle,
            width: parseFloat(style.outlineWidth) || 0, visible: element.matches(':focus-visible')};
}"""

# The page's width, and the first elements that stick out of the window (to say what to fix).
OVERFLOW = """() => ({scroll: document.documentElement.scrollWidth, width: window.innerWidth,
    wide: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(e => e.outerHTML.slice(0, 100))})"""

NEXT_FRAME = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


def axe_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The WCAG 2.1 A and AA rules this page breaks, each with the elements that break it."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_RUN, list(WCAG_21_AA))


def focus_outline(page) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The outline on the first element a keyboard user tabs to."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    outline = page.evaluate(FOCUS_OUTLINE)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    return outline


def overflow(page, width: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """How wide the page is at this viewport width (and the elements sticking out, if any)."""
    height = (page.viewport_size or {}).get("height", 720)
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate(NEXT_FRAME)  # the page's resize handlers have run
    return page.evaluate(OVERFLOW)


def check_screen(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Fail with what is wrong unless the page is accessible, focus shows, and it fits both widths."""
    outline = focus_outline(page)
    assert outline["visible"] and outline["style"] != "none" and outline["width"] >= FOCUS_OUTLINE_PX, (
        f"{name}: keyboard focus is not visible enough: {outline}")
    viewport = page.viewport_size or {"width": DESKTOP, "height": 720}
    shots = os.environ.get("BESPOKE_SCREENSHOTS_DIR")
    try:
        for width in (DESKTOP, PHONE):
            seen = overflow(page, width)
            assert seen["scroll"] <= seen["width"], f"{name}: wider than a {width} px window: {seen}"
            violations = axe_violations(page)
            assert violations == [], f"{name}: WCAG 2.1 A/AA violations at {width} px:\n" + "\n".join(violations)
            if shots and name in README_SCREENS:
                save_small(page, Path(shots) / f"{name}-{width}.png")
    finally:
        page.set_viewport_size(viewport)


def save_small(page, path: Path) -> None:  # type: ignore[no-untyped-def]
    """A screenshot of the page's top (at most SHOT_HEIGHT px of it), reduced to a palette of
    64 colours (a few tens of kB)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = page.evaluate("[window.innerWidth, document.documentElement.scrollHeight]")
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": width,
                                                          "height": min(height, SHOT_HEIGHT)})
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
