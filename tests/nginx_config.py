"""Just enough of nginx's configuration syntax to check deploy/nginx.conf against the code:
directives, their arguments (quoted or not), their blocks; comments dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"""#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"'#]+)""")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass
class Directive:
    name: str
    args: list[str]
    children: list[Directive] = field(default_factory=list)

    def all(self, name: str) -> list[Directive]:
        return [child for child in self.children if child.name == name]

    def one(self, name: str) -> Directive:
        (found,) = self.all(name)
        return found

    def get(self, name: str) -> list[str] | None:
        """The arguments of the one ``name`` directive here (None: not set here)."""
        found = self.all(name)
        assert len(found) <= 1, f"{name} set {len(found)} times in {self.name} {self.args}"
        return found[0].args if found else None

    def location(self, *args: str) -> Directive:
        (found,) = [child for child in self.all("location") if child.args == list(args)]
        return found

    def headers(self) -> dict[str, str]:
        """proxy_set_header here, by lower-cased name."""
        return {d.args[0].lower(): d.args[1] for d in self.all("proxy_set_header")}


def parse(text: str) -> Directive:
    """The whole file as the children of a root directive named ``main``."""
    root = Directive("main", [])
    stack = [root]
    words: list[str] = []
    for match in _TOKEN.finditer(text):
        double, single, punctuation, word = match.groups()
        if match.group(0).startswith("#"):
            continue
        if punctuation is None:
            words.append(next(part for part in (double, single, word) if part is not None))
            continue
        if punctuation == "}":
            assert not words and len(stack) > 1, "unbalanced }"
            stack.pop()
            continue
        assert words, f"{punctuation} without a directive"
        directive = Directive(words[0], words[1:])
        stack[-1].children.append(directive)
        words = []
        if punctuation == "{":
            stack.append(directive)
    assert not words and len(stack) == 1, "unterminated directive or block"
    return root


def size(value: str) -> int:
    """nginx's sizes: 1024, 8k, 1m, 1g."""
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * _UNITS[unit.lower()]


def seconds(value: str) -> float:
    """nginx's times: 30, 30s, 5m, 1h."""
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value).groups()  # type: ignore[union-attr]
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit or "s"]
    return int(number) * factor
