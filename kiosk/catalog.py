"""Every visible string comes from here: one TOML file per language in locales/.

The config may replace the question per language; reasons carry their own labels. A missing
key is a bug caught by the tests (each language file must have the keys English has), so the
screen never shows a raw key to a shopper.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources


def _languages() -> tuple[str, ...]:
    """Every catalog in locales/, English first (the fallback and the reference)."""
    found = {
        entry.name.removesuffix(".toml")
        for entry in resources.files("peakend.kiosk").joinpath("locales").iterdir()
        if entry.name.endswith(".toml")
    }
    return ("en", *sorted(found - {"en"}))


# Adding a language is adding its file (see kiosk/README.md, "Adding a language").
KNOWN_LANGUAGES = _languages()


@cache
def strings(language: str) -> dict[str, str]:
    """The built-in strings of one language."""
    if language not in KNOWN_LANGUAGES:
        raise KeyError(f"no catalog for language {language!r}")
    text = resources.files("peakend.kiosk").joinpath("locales", f"{language}.toml").read_text(
        encoding="utf-8"
    )
    return tomllib.loads(text)


class Catalog:
    """Strings of the current language, with the config's own question on top."""

    def __init__(self, languages: list[str], default: str, question: dict[str, str]) -> None:
        self.languages = list(languages)
        self.default = default
        self.question = dict(question)
        self.language = default

    def text(self, key: str, **values: object) -> str:
        if key == "question" and self.question.get(self.language):
            return self.question[self.language]
        template = strings(self.language).get(key) or strings("en")[key]
        return template.format(**values) if values else template

    def strings_of(self, language: str) -> dict[str, str]:
        return strings(language)

    def next_language(self) -> str:
        """The language the language button switches to."""
        i = self.languages.index(self.language) if self.language in self.languages else -1
        return self.languages[(i + 1) % len(self.languages)]

    def switch(self, language: str | None = None) -> str:
        self.language = language or self.next_language()
        return self.language

    def reset(self) -> None:
        self.language = self.default
