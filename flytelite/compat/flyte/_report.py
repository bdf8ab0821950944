"""The HTML report of one task call: tabs of HTML fragments (`flyte.report`'s model)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["MAIN_TAB", "Report", "Tab"]

MAIN_TAB = "main"

_PAGE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{title}</title></head>
<body>
<nav><ul>{nav}</ul></nav>
{body}
</body>
</html>
"""


@dataclass
class Tab:
    """One tab of a report: HTML fragments, in the order they were logged."""

    name: str
    content: list[str] = field(default_factory=list, init=False)

    def log(self, content: str) -> None:
        """Append an HTML fragment."""
        self.content.append(content)

    def replace(self, content: str) -> None:
        """Replace the tab's content with one HTML fragment."""
        self.content = [content]

    def get_html(self) -> str:
        """The tab's fragments, joined."""
        return "\n".join(self.content)


@dataclass
class Report:
    """The report of one task call; `main` always exists."""

    name: str
    tabs: dict[str, Tab] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tabs.setdefault(MAIN_TAB, Tab(MAIN_TAB))

    def has_content(self) -> bool:
        """Whether anything was logged."""
        return any(tab.content for tab in self.tabs.values())

    def get_tab(self, name: str, create_if_missing: bool = True) -> Tab:
        """The tab called `name`, created if missing (unless told not to)."""
        if name not in self.tabs:
            if not create_if_missing:
                raise ValueError(f"Tab {name} does not exist.")
            self.tabs[name] = Tab(name)
        return self.tabs[name]

    def get_final_report(self) -> str:
        """The report as one HTML page."""
        shown = {n: t for n, t in self.tabs.items() if t.content or n != MAIN_TAB}
        nav = "".join(f"<li>{html.escape(n)}</li>" for n in shown)
        # The fragments are HTML by contract: they are inserted as they are.
        body = "\n".join(
            f'<section id="{html.escape(n)}">{t.get_html()}</section>' for n, t in shown.items()
        )
        return _PAGE.format(title=html.escape(self.name), nav=nav, body=body)
